"""BioLogic readers (EC-Lab / BT-Lab text exports and binary .mpr) against the format's documentation,
galvani and yadg.

Real files cover GCPL / Modulo Bat / OCV (.mpr and .mpt, decimal comma, no header block, semicolon
CSV). There are no real CP, PEIS, GEIS or ZIR exports in tests/data: those are spec-built here with
the header shape EC-Lab writes (as in the public test exports of galvani and yadg: magic line,
``Nb header lines : N``, technique title, settings, the column row as line N), values chosen in the
test so the expected SI values are a hand conversion.
"""
from __future__ import annotations

import builtins
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from galvani import BioLogic
from yadg.extractors.eclab import mpr_columns as yadg_columns
from yadg.extractors.eclab.mpr import extract_raw_bytes

from foundation.contract import UnreadableFile
from foundation.registry import detect
from tasks.echem.biologic_mpr import mpr_modules, read_yadg
from tasks.echem.biologic_units import CHARGE_TOLERANCE
from tasks.echem.plugin import READERS
from tasks.testing import assert_reader_conforms, assert_rejects

R = {r.name: r for r in READERS}
TEXT, MPR = R["biologic-text"], R["biologic-mpr"]
GCPL = "echem/biologic/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
MB = "echem/biologic/00_test_04_MB_C01.mpr"


# --- spec-built EC-Lab text exports ---------------------------------------------------------------

def ec_lab_export(path: Path, title: str, columns: list[str], rows: list[list[float]], *,
                  start: str = "11/08/2023 16:06:15.633", comma: bool = False, settings: int = 6,
                  trailing_tab: bool = True) -> Path:
    """An EC-Lab text export: 'EC-Lab ASCII FILE', 'Nb header lines : N', technique title, run
    settings with 'Acquisition started on', a settings table, then the column row as line N."""
    head = ["EC-Lab ASCII FILE", "Nb header lines : {n}", "", title, "",
            "Run on channel : 1 (SN 6524)", "User : ", "Electrode connection : standard",
            f"Acquisition started on : {start}", "Device : VMP-300 (SN 0300)",
            "EC-Lab for windows v11.41 (software)", "Cycle Definition : Charge/Discharge alternance"]
    head += [f"ctrl{i:<17d}{0.5 * i:<20.3f}" for i in range(settings)] + [""]
    n = len(head) + 1
    head[1] = head[1].format(n=n)
    sep = "\t"
    col_row = sep.join(columns) + (sep if trailing_tab else "")

    def fmt(v: float) -> str:
        s = f"{v:.15E}"
        return s.replace(".", ",") if comma else s

    body = [sep.join(fmt(v) for v in row) for row in rows]
    path.write_bytes(("\r\n".join(head + [col_row] + body) + "\r\n").encode("latin-1"))
    return path


def _ramp(n: int, t0: float, dt: float) -> np.ndarray:
    return t0 + dt * np.arange(n)


# (title, columns, index of time / potential / current column, current divisor to A, voltage divisor to V)
EXPORTS = {
    "CP": ("Chronopotentiometry",
           ["mode", "ox/red", "error", "Ns", "time/s", "control/mA", "<Ewe>/V", "I/mA", "dQ/C", "(Q-Qo)/C"],
           4, 6, 7, 1e3, 1.0),
    "PEIS_ewe_ece": ("Potentio Electrochemical Impedance Spectroscopy",
                     ["freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "time/s", "<Ewe>/V", "<I>/mA", "cycle number", "Ns",
                      "(Q-Qo)/mA.h", "<Ece>/V", "", "Ewe-Ece/V"], 3, 4, 5, 1e3, 1.0),
    "GEIS": ("Galvano Electrochemical Impedance Spectroscopy",
             ["freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "|Z|/Ohm", "time/s", "<Ewe>/V", "<I>/mA", "cycle number",
              "(Q-Qo)/mA.h", "dq/mA.h"], 4, 5, 6, 1e3, 1.0),
    "ZIR": ("IR compensation (PEIS)",
            ["freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "|Z|/Ohm", "Phase(Z)/deg", "time/s", "<Ewe>/V", "<I>/mA",
             "|Ewe|/V", "|I|/A"], 5, 6, 7, 1e3, 1.0),
    "OCV_old": ("Open Circuit Voltage", ["mode", "error", "time/s", "Ewe/V"], 2, 3, None, None, 1.0),
    "old_bracket_units": ("Chronoamperometry / Chronocoulometry",
                          ["mode", "time/s", "<Ewe/V>", "<I/mA>", "cycle number"], 1, 2, 3, 1e3, 1.0),
    "micro_milli": ("Chronopotentiometry", ["time/s", "Ewe/mV", "I/µA", "Ece/V"], 0, 1, 2, 1e6, 1e3),
    # a 3-electrode export without Ewe: the cell is Ewe-Ece (Ece alone is the counter electrode)
    "cell_ewe_ece": ("Chronopotentiometry", ["time/s", "<I>/mA", "Ece/V", "Ewe-Ece/V"], 0, 3, 1, 1e3, 1.0),
}


def _rows(columns: list[str], t_col: int, v_col: int, i_col: int | None, n: int = 40) -> list[list[float]]:
    rng = np.random.default_rng(len(columns))
    table = rng.uniform(0.1, 3.0, size=(n, len(columns)))
    table[:, t_col] = _ramp(n, 1557.303214959975, 1.0)  # a technique that starts 1557 s into the run
    if i_col is not None:
        table[:, i_col] = 250.0 + rng.normal(0, 1, n)
    return table.tolist()


@pytest.mark.parametrize("kind", list(EXPORTS))
@pytest.mark.parametrize("comma", [False, True], ids=["point", "comma"])
def test_spec_built_export_is_read_with_units_from_the_column_names(tmp_path, kind, comma):
    title, columns, t_col, v_col, i_col, i_div, v_div = EXPORTS[kind]
    rows = _rows(columns, t_col, v_col, i_col)
    path = ec_lab_export(tmp_path / f"{kind}.mpt", title, columns, rows, comma=comma)
    assert detect(path, "renamed.bin", "echem").name == "biologic-text"
    m = assert_reader_conforms(TEXT, path)[0]
    frame, table = m.data, np.array(rows)
    assert len(frame) == len(rows)
    np.testing.assert_allclose(frame["voltage_v"], table[:, v_col] / v_div, rtol=1e-14)
    if i_col is None:
        assert (frame["current_a"] == 0).all() and m.meta["current_source"] == "none logged (open circuit)"
    else:
        np.testing.assert_allclose(frame["current_a"], table[:, i_col] / i_div, rtol=1e-14)
    np.testing.assert_allclose(frame["time_s"], table[:, t_col] - table[0, t_col], atol=1e-9)
    assert m.meta["technique"] == title


def test_unknown_unit_is_refused_not_guessed(tmp_path):
    path = ec_lab_export(tmp_path / "kv.mpt", "Chronopotentiometry", ["time/s", "Ewe/kV", "I/mA"],
                         [[0.0, 1.0, 2.0], [1.0, 1.0, 2.0]])
    reason = assert_rejects(TEXT, path, "unit 'kV'")
    assert "Ewe/kV" in reason


def test_header_announcing_more_lines_than_the_file_has_is_truncated(tmp_path):
    path = tmp_path / "short.mpt"
    path.write_bytes(b"EC-Lab ASCII FILE\r\nNb header lines : 80\r\n\r\nChronopotentiometry\r\n")
    assert_rejects(TEXT, path, "truncated")


def test_damaged_column_row_is_named(tmp_path):
    path = ec_lab_export(tmp_path / "bad.mpt", "Chronopotentiometry", ["time/s", "Ewe/V"], [[0.0, 1.0]])
    lines = path.read_bytes().split(b"\r\n")
    n = int(lines[1].split(b":")[1])
    lines[n - 1] = b"garbage"
    path.write_bytes(b"\r\n".join(lines))
    assert_rejects(TEXT, path, "should hold the tab-separated column names")


def test_operando_export_reads_averaged_current_with_decimal_comma(real):
    # a real GCPL export: '<I>/mA' (no I/mA), 'control/V/mA' (the set point, never the current), comma decimals
    path = real / "xas/LiNiO2_operando_NiK/220726cell4operandoxas_C06.mpt"
    text = path.read_text(encoding="latin-1").splitlines()
    n = int(text[1].split(":")[1])
    cols = text[n - 1].split("\t")
    data = [ln.split("\t") for ln in text[n:] if ln.strip()]
    m = TEXT.read(path, {})
    assert len(m.data) == len(data)
    amps = np.array([float(r[cols.index("<I>/mA")].replace(",", ".")) for r in data]) / 1000
    np.testing.assert_allclose(m.data["current_a"], amps, rtol=1e-15)
    assert m.meta["current_column"] == "<I>/mA"


# --- absolute time and zone -------------------------------------------------------------------------

def test_acquisition_start_is_time_zero_not_the_first_record(tmp_path):
    title, columns, t_col, v_col, i_col, *_ = EXPORTS["CP"]
    rows = _rows(columns, t_col, v_col, i_col)
    path = ec_lab_export(tmp_path / "cp.mpt", title, columns, rows, start="11/08/2023 16:06:15.633")
    m = TEXT.read(path, {})
    start = datetime(2023, 11, 8, 16, 6, 15, 633000, tzinfo=timezone.utc)
    first = start + timedelta(seconds=rows[0][t_col])
    assert abs(m.data["timestamp"].iloc[0].to_pydatetime() - first) <= timedelta(microseconds=1)
    assert m.meta["first_record_s"] == pytest.approx(1557.303214959975)
    assert m.meta["time_zone_source"] == "default UTC — the file does not say"


def test_header_without_start_is_flagged_not_stamped(tmp_path):
    path = ec_lab_export(tmp_path / "nostart.mpt", "Open Circuit Voltage", ["time/s", "Ewe/V"],
                         [[0.0, 1.0], [1.0, 1.0]])
    path.write_bytes(path.read_bytes().replace(b"Acquisition started on", b"Acquisition began at"))
    m = TEXT.read(path, {})
    assert m.data["timestamp"].isna().all()
    assert any("no 'Acquisition started on' line" in f for f in m.meta["flags"])


def test_share_time_zone_is_applied_and_recorded(tmp_path):
    title, columns, t_col, v_col, i_col, *_ = EXPORTS["ZIR"]
    rows = _rows(columns, t_col, v_col, i_col)
    path = ec_lab_export(tmp_path / "zir.mpt", title, columns, rows, start="03/26/2018 12:10:53")
    m = TEXT.read(path, {"timezone": "Europe/Berlin"})
    local = datetime(2018, 3, 26, 12, 10, 53, tzinfo=ZoneInfo("Europe/Berlin")) + timedelta(seconds=rows[0][t_col])
    assert abs(m.data["timestamp"].iloc[0].to_pydatetime() - local) <= timedelta(microseconds=1)
    # 12:10:53 CEST (UTC+2, the day after the switch) + 1557.3 s is 10:36:50.3 UTC
    assert m.data["timestamp"].iloc[0].strftime("%H:%M:%S") == "10:36:50"
    assert (m.meta["time_zone"], m.meta["time_zone_source"]) == ("Europe/Berlin", "share config")


def test_time_zone_that_is_no_zone_is_refused_by_name(tmp_path):
    path = ec_lab_export(tmp_path / "z.mpt", "Open Circuit Voltage", ["time/s", "Ewe/V"], [[0.0, 1.0], [1.0, 1.0]])
    assert_rejects(TEXT, path, "timezone='CEST' is not an IANA zone name", {"timezone": "CEST"})


def test_mpr_first_record_is_stamped_from_the_log_start_plus_its_time(real):
    # 00_test_04 starts at time/s = 16.17 s; galvani's LOG-module timestamp is time/s = 0; yadg adds the two itself
    path = real / MB
    mpr = BioLogic.MPRfile(str(path))
    expected = mpr.timestamp.replace(tzinfo=timezone.utc) + timedelta(seconds=float(mpr.data["time/s"][0]))
    m = MPR.read(path, {})
    assert abs(m.data["timestamp"].iloc[0].to_pydatetime() - expected) <= timedelta(microseconds=1)
    uts = extract_raw_bytes(source=path.read_bytes(), timezone="UTC").to_dataset()["uts"].values
    np.testing.assert_allclose(m.data["timestamp"].astype("int64").to_numpy() / 1e6, uts, atol=1e-3)
    berlin = MPR.read(path, {"timezone": "Europe/Berlin"})
    assert (m.data["timestamp"].iloc[0] - berlin.data["timestamp"].iloc[0]).total_seconds() == 3600  # December: CET


# --- .mpr: galvani, yadg fallback, refusals --------------------------------------------------------

@pytest.mark.parametrize("rel", [MB, GCPL])
def test_mpr_read_by_galvani_agrees_with_yadg_value_for_value(real, rel):
    path = real / rel
    data = BioLogic.MPRfile(str(path)).data
    ds = extract_raw_bytes(source=path.read_bytes(), timezone="UTC").to_dataset()
    m = MPR.read(path, {})
    assert m.meta["backend"].startswith("galvani ")
    assert len(m.data) == len(data) == ds.sizes["uts"]
    np.testing.assert_array_equal(data["time/s"], ds["time"].values)
    np.testing.assert_array_equal(data["Ewe/V"].astype("float64"), ds["Ewe"].values)
    np.testing.assert_allclose(m.data["voltage_v"], ds["Ewe"].values, rtol=0)
    np.testing.assert_allclose(m.data["time_s"], ds["time"].values - ds["time"].values[0], rtol=0, atol=1e-9)
    if "I/mA" in data.dtype.names:
        np.testing.assert_allclose(m.data["current_a"], ds["I"].values / 1000, rtol=1e-15)
    yadg_frame, _ = read_yadg(path, "x")  # our reader's yadg path gives the same record
    assert len(yadg_frame) == len(data)


def _patch_column_id(src: Path, dst: Path, old: int, new: int) -> Path:
    """Replace one column ID in the data module's ID list (documented layout: n_points u4, n_columns
    u1, then one 2-byte ID per column) by another of the same width."""
    data = bytearray(src.read_bytes())
    module = next(m for m in mpr_modules(bytes(data), "src") if m["name"] == "VMP data")
    start = module["offset"] + 5
    ids = bytes(data[start:start + 2 * data[module["offset"] + 4]])
    for enc in (old.to_bytes(2, "big"), old.to_bytes(2, "little")):
        at = ids.find(enc)
        if at >= 0 and at % 2 == 0:
            data[start + at:start + at + 2] = new.to_bytes(2, "big" if enc[0] == 0 else "little")
            dst.write_bytes(bytes(data))
            return dst
    raise AssertionError(f"column ID {old} not in {ids.hex(' ')}")


def test_module_galvani_refuses_is_read_by_yadg(real, tmp_path):
    # |Energy|/W.h (ID 74, 8-byte float) relabelled 'Energy we' (ID 112, 8-byte float): galvani does not
    # know 112, yadg does; the rest of the record is untouched, so it must equal galvani's original read
    assert 112 not in BioLogic.VMPdata_colID_dtype_map and yadg_columns.data_columns[112][0] == "<f8"
    path = _patch_column_id(real / MB, tmp_path / "energy_we.mpr", 74, 112)
    with pytest.raises(NotImplementedError):
        BioLogic.MPRfile(str(path))
    original = BioLogic.MPRfile(str(real / MB)).data
    m = assert_reader_conforms(MPR, path)[0]
    assert m.meta["backend"].startswith("yadg ") and "112" in m.meta["galvani_refused"]
    assert len(m.data) == len(original)
    np.testing.assert_array_equal(m.data["voltage_v"], original["Ewe/V"].astype("float64"))
    np.testing.assert_array_equal(m.data["current_a"], original["I/mA"].astype("float64") / 1000)
    np.testing.assert_array_equal(m.data["time_s"], original["time/s"] - original["time/s"][0])


def test_column_id_neither_library_knows_is_refused(real, tmp_path):
    known = set(BioLogic.VMPdata_colID_dtype_map) | set(BioLogic.VMPdata_colID_flag_map)
    known |= set(yadg_columns.data_columns) | set(yadg_columns.flag_columns)
    unknown = next(i for i in range(255, 0, -1) if i not in known)
    path = _patch_column_id(real / MB, tmp_path / "unknown.mpr", 74, unknown)
    assert_rejects(MPR, path, "neither galvani nor yadg knows all its column IDs")


def test_truncated_mpr_is_refused_with_the_defect_named(real, tmp_path):
    data = (real / GCPL).read_bytes()
    path = tmp_path / "cut.mpr"
    path.write_bytes(data[: len(data) // 2])
    reason = assert_rejects(MPR, path, "truncated")
    assert "VMP data" in reason and str(len(data) // 2) in reason


def test_mpr_without_galvani_or_yadg_says_how_to_install(real, monkeypatch):
    real_import = builtins.__import__

    def no_gpl(name, *a, **k):
        if name.startswith(("galvani", "yadg")):
            raise ImportError(f"no {name}")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_gpl)
    assert_rejects(MPR, real / MB, "pip install socscope[gpl]")


def test_mpr_without_galvani_is_read_by_yadg(real, monkeypatch):
    real_import = builtins.__import__

    def no_galvani(name, *a, **k):
        if name.startswith("galvani"):
            raise ImportError("no galvani")
        return real_import(name, *a, **k)

    expected = BioLogic.MPRfile(str(real / MB)).data
    monkeypatch.setattr(builtins, "__import__", no_galvani)
    m = MPR.read(real / MB, {})
    assert m.meta["backend"].startswith("yadg ")
    np.testing.assert_array_equal(m.data["voltage_v"], expected["Ewe/V"].astype("float64"))


# --- derived charge against the vendor's (Q-Qo) ----------------------------------------------------

def test_gcpl_charge_is_the_vendors_and_agrees_with_our_integral(real):
    path = real / GCPL
    data = BioLogic.MPRfile(str(path)).data
    m = MPR.read(path, {})
    qqo = data["(Q-Qo)/mA.h"] / 1000
    np.testing.assert_allclose(m.data["charge_ah"], qqo - qqo[0], rtol=0, atol=1e-15)
    check = m.meta["charge_check"]
    assert check["vendor_column"] == "(Q-Qo)/mA.h" and check["sign"] == "same"
    assert check["relative_to_vendor_swing"] < CHARGE_TOLERANCE and not m.meta.get("flags")
    # charge positive: where the instrument logged charge passing in (dq > 0), the current is positive
    dq = data["dq/mA.h"]
    assert (m.data["current_a"].to_numpy()[dq > 1e-9] > 0).all()
    assert (m.data["current_a"].to_numpy()[dq < -1e-9] < 0).all()


@pytest.mark.parametrize("current_ma,rel,sign", [(-1.0, 2.0, "opposite"), (0.88, 0.12, "same")])
def test_charge_disagreeing_with_vendor_is_flagged(tmp_path, current_ma, rel, sign):
    # the vendor's (Q-Qo) says +1 mA for an hour; the logged current says otherwise
    t = np.arange(0, 3601, 60.0)
    rows = [[ti, 3.5, current_ma, ti / 3600] for ti in t]
    path = ec_lab_export(tmp_path / "gcpl.mpt", "Galvanostatic Cycling with Potential Limitation",
                         ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h"], rows)
    m = TEXT.read(path, {})
    check = m.meta["charge_check"]
    assert check["relative_to_vendor_swing"] == pytest.approx(rel, rel=1e-9) and check["sign"] == sign
    assert any("disagrees with the vendor's (Q-Qo)/mA.h" in f for f in m.meta["flags"])
    np.testing.assert_allclose(m.data["charge_ah"], t / 3600 / 1000, rtol=1e-12)
