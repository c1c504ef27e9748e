"""Non-BioLogic cycler readers held against independent parses of the same files, value for value.

Independent sources: the raw columns read with the csv module and converted by hand here (units
written out in each case), ``mdb-export`` for Arbin .res, NewareNDA for .nda/.ndax, and beep's own
Maccor / Arbin / Novonix parsers (TRI-AMDD/beep, the project these peer files come from). Where no
real file shows a case (midnight roll, no test date, µA/mV units, unknown units, missing columns),
a small file is built here from the vendor layout documented in the module docstrings (spec-built).
"""
from __future__ import annotations

import csv
import io
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from foundation.contract import UnreadableFile
from foundation.registry import detect, read_head
from tasks.echem.plugin import READERS

R = {r.name: r for r in READERS}
UTC = timezone.utc


def _read(reader: str, path: Path, **options):
    return R[reader].read(path, options)


def _ts(m, i: int) -> datetime:
    return m.data["timestamp"].iloc[i].to_pydatetime()


# ---------------------------------------------------------------- Maccor: csv module, hand units
def _hms(text: str) -> float:
    """'  1d 02:03:04.5' or '02:03:04' -> seconds (by hand, for the expected values)."""
    text = text.strip()
    days = 0
    if "d " in text:
        d, text = text.split("d ", 1)
        days = int(d)
    h, m, s = text.strip().split(":")
    return days * 86400 + int(h) * 3600 + int(m) * 60 + float(s or 0)


MACCOR = [  # file, test-time column, its unit in seconds (None: 'Nd hh:mm:ss' text), current, volts, capacity
    ("peer/maccor/PreDiag_000412_00008Fshort.022", "Test (Sec)", 1.0, "Amps", "Volts", "Amp-hr"),
    ("peer/maccor/PredictionDiagnostics_000109_tztest.010", "Test (Sec)", 1.0, "Amps", "Volts", "Amp-hr"),
    ("peer/maccor/xTESLADIAG_000019_CH70.070", "Test (Sec)", 1.0, "Amps", "Volts", "Amp-hr"),
    ("peer/maccor/xTESLADIAG_000038test.078", "Test (Sec)", 1.0, "Amps", "Volts", "Amp-hr"),
    ("peer/maccor/maccor_example.001", "Test (Min)", 60.0, "Amps", "Volts", "Amp-hr"),
    ("peer/maccor/maccor_example.002", "Test (Min)", 60.0, "Amps", "Volts", "Amp-hr"),
    ("peer/maccor/maccor_001.txt", "TestTime", None, "Amps", "Volts", "Amp-hr"),
    ("real/echem/maccor/PreDiag_000229_000229_truncated.034", "Test (Sec)", 1.0, "Amps", "Volts", "Amp-hr"),
    ("real/echem/maccor/PredictionDiagnostics_000151_test.052", "Test (Sec)", 1.0, "Amps", "Volts", "Amp-hr"),
    ("real/echem/maccor/maccor_test_file_4267-66-6519.041", "TestTime", None, "Amps", "Volts", "Amp-hr"),
    ("real/echem/maccor/sample_data_maccor.csv", "Test Time (sec)", 1.0, "Current", "Voltage", "Capacity"),
    # MIMS export: TestTime in minutes (its DPT Time advances 60 s per TestTime unit)
    ("real/echem/maccor/maccor_002.txt", "TestTime", 60.0, "Current [A]", "Voltage [V]", "Cap. [Ah]"),
]


def _maccor_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_bytes().decode("latin-1").splitlines()
    h = next(i for i, ln in enumerate(lines) if ln.split("\t")[0].split(",")[0] in ("Rec#", "Rec"))
    delim = "\t" if lines[h].count("\t") > lines[h].count(",") else ","
    rows = [r for r in csv.reader(lines[h + 1:], delimiter=delim) if r and r[0].strip()]
    return [c.strip() for c in lines[h].split(delim)], rows


@pytest.mark.parametrize("rel,tcol,unit_s,icol,vcol,qcol", MACCOR, ids=[c[0].split("/")[-1] for c in MACCOR])
def test_maccor_matches_csv_module(data_dir, rel, tcol, unit_s, icol, vcol, qcol):
    path = data_dir / rel
    header, rows = _maccor_rows(path)
    col = {name: header.index(name) for name in (tcol, icol, vcol, qcol)}
    state = header.index("State") if "State" in header else header.index("Md") if "Md" in header else None
    m = _read("maccor-text", path)
    assert len(m.data) == len(rows)
    for i in (0, -1):
        row = rows[i]
        t = _hms(row[col[tcol]]) if unit_s is None else float(row[col[tcol]]) * unit_s
        t0 = _hms(rows[0][col[tcol]]) if unit_s is None else float(rows[0][col[tcol]]) * unit_s
        amps = abs(float(row[col[icol]]))
        if state is not None and row[state].strip() == "D":  # Maccor: discharge is negative
            amps = -amps
        elif state is None or row[state].strip() not in ("C", "D"):
            amps = float(row[col[icol]])
        assert m.data["time_s"].iloc[i] == pytest.approx(t - t0, abs=1e-6)
        assert m.data["voltage_v"].iloc[i] == pytest.approx(float(row[col[vcol]]), abs=1e-9)
        assert m.data["current_a"].iloc[i] == pytest.approx(amps, abs=1e-9)
        assert m.data["vendor_capacity_ah"].iloc[i] == pytest.approx(float(row[col[qcol]]), abs=1e-9)


BEEP_MACCOR = ["PreDiag_000412_00008Fshort.022", "PredictionDiagnostics_000109_tztest.010",
               "xTESLADIAG_000019_CH70.070", "xTESLADIAG_000038test.078"]


@pytest.mark.parametrize("name", BEEP_MACCOR)
def test_maccor_matches_beep(peer, name):
    from beep.structure.maccor import MaccorDatapath

    path = peer / "maccor" / name
    theirs = MaccorDatapath.from_file(str(path.resolve())).raw_data
    # beep takes the Maccor wall clock as US Pacific time; ours takes the zone from the share's options
    ours = _read("maccor-text", path, timezone="America/Los_Angeles")
    assert len(ours.data) == len(theirs)
    np.testing.assert_allclose(ours.data["voltage_v"], theirs["voltage"], atol=1e-7)
    np.testing.assert_allclose(ours.data["current_a"], theirs["current"], atol=1e-7)
    np.testing.assert_allclose(ours.data["time_s"], theirs["test_time"] - theirs["test_time"].iloc[0], atol=1e-6)
    # ours is start + test time; a pause runs the wall clock (beep's source) ahead, and ours says by how much
    ahead = ours.meta.get("wall_clock_ahead_of_test_time_s", 0.0)
    for i, offset in ((0, 0.0), (-1, ahead)):  # DPt Time has whole seconds
        expected = datetime.fromisoformat(theirs["date_time_iso"].iloc[i])
        assert abs((_ts(ours, i) - expected).total_seconds() + offset) < 1.0
    assert ours.meta["timezone"] == "America/Los_Angeles" and ours.meta["timezone_source"] == "reader_options.timezone"


def test_maccor_time_of_day_is_dated_by_the_header_not_today(peer):
    twin = _read("maccor-text", peer / "maccor/maccor_example.001")  # DPt Time with its date
    lone = _read("maccor-text", peer / "maccor/maccor_example.002")  # DPt Time as hh:mm:ss only
    header = (peer / "maccor/maccor_example.002").read_text(encoding="latin-1").splitlines()[0]
    test_date = datetime.strptime(header.split("Date of Test:")[1].split("\t")[1].strip(), "%m/%d/%Y")
    _, rows = _maccor_rows(peer / "maccor/maccor_example.002")
    for i in (0, -1):
        tod = datetime.strptime(rows[i][-1].strip(), "%H:%M:%S")
        expected = test_date.replace(hour=tod.hour, minute=tod.minute, second=tod.second, tzinfo=UTC)
        # start + Test (Min), written with 4 decimals (6 ms)
        assert abs((_ts(lone, i) - expected).total_seconds()) < 0.01
        # the twin says 03/31 for the same clock readings: one day earlier, same times
        assert abs((_ts(twin, i) - (expected - timedelta(days=1))).total_seconds()) < 0.01
    assert lone.meta["timezone_source"].startswith("default")
    assert "header" in lone.meta["absolute_time"]
    berlin = _read("maccor-text", peer / "maccor/maccor_example.002", timezone="Europe/Berlin")
    assert _ts(berlin, 0) == datetime(2016, 4, 1, 14, 5, 31, tzinfo=UTC)  # CEST = UTC+2


MACCOR_HEAD = "Today's Date 01/02/2020  Date of Test:\t{date}\t Filename:\tx.001 Procedure: p.000\tComment/Barcode: \n"


def _maccor_file(tmp_path: Path, date: str | None, rows: list[tuple], with_test_time: bool) -> Path:
    head = MACCOR_HEAD.format(date=date) if date else "Today's Date 01/02/2020  Filename:\tx.001\n"
    cols = ["Rec#", "Cyc#", "Step"] + (["Test (Sec)"] if with_test_time else []) + ["Amp-hr", "Amps", "Volts",
                                                                                   "State", "DPt Time"]
    lines = [head, "\t".join(cols) + "\n"]
    for k, (t, tod, amps) in enumerate(rows, start=1):
        vals = [str(k), "0", "1"] + ([f"{t:.4f}"] if with_test_time else []) + ["0.0", f"{amps}", "3.5", "C", tod]
        lines.append("\t".join(vals) + "\n")
    path = tmp_path / "spec.001"
    path.write_text("".join(lines), encoding="latin-1")
    return path


def test_maccor_midnight_rolls_the_date_spec_built(tmp_path):
    path = _maccor_file(tmp_path, "12/31/2019", [(0, "23:59:50", 1.0), (0, "00:00:00", 1.0), (0, "00:00:10", 1.0)],
                        with_test_time=False)
    m = _read("maccor-text", path)
    assert [_ts(m, i) for i in range(3)] == [datetime(2019, 12, 31, 23, 59, 50, tzinfo=UTC),
                                             datetime(2020, 1, 1, 0, 0, 0, tzinfo=UTC),
                                             datetime(2020, 1, 1, 0, 0, 10, tzinfo=UTC)]
    assert list(m.data["time_s"]) == [0.0, 10.0, 20.0]


def test_maccor_truncated_export_dates_its_first_record_by_test_time_spec_built(tmp_path):
    # test began 12/31/2019; the first record kept is 25 h in, at 01:00:00 -> 2020-01-01 01:00:00
    path = _maccor_file(tmp_path, "12/31/2019", [(90000, "01:00:00", 1.0), (90010, "01:00:10", 1.0)],
                        with_test_time=True)
    m = _read("maccor-text", path)
    assert _ts(m, 0) == datetime(2020, 1, 1, 1, 0, 0, tzinfo=UTC)


def test_maccor_without_any_date_has_null_absolute_time_flagged_spec_built(tmp_path):
    path = _maccor_file(tmp_path, None, [(0, "23:59:50", 1.0), (10, "00:00:00", 1.0)], with_test_time=True)
    m = _read("maccor-text", path)
    assert m.data["timestamp"].isna().all()
    assert m.meta["start_utc"] is None and m.meta["absolute_time"].startswith("null")
    assert list(m.data["time_s"]) == [0.0, 10.0]


@pytest.mark.parametrize("name,words", [
    ("maccor_test_file_4267-66-6519.EDA0001.041", "AC impedance (EIS) export, not a cycling record"),
    ("xTESLADIAG_000003_CH68.000", "Maccor test procedure (XML step program"),
])
def test_other_maccor_files_are_recognised_and_refused_by_name(peer, name, words):
    path = peer / "maccor" / name
    assert detect(path, path.name, "echem").name == "maccor-text"
    with pytest.raises(UnreadableFile, match=words.replace("(", r"\(").replace(")", r"\)")):
        _read("maccor-text", path)


# ---------------------------------------------------------------- Neware CSV
def test_neware_regular_export_matches_csv_module(peer):
    path = peer / "neware_csv/nw_regular_export_ife_example.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    rec_head = lines[2].split(",")[2:]
    records, cycles = [], []
    step_type = None
    for line in lines[3:]:
        fields = next(csv.reader([line]))
        if line.startswith(",,"):
            records.append((fields[2:], step_type))
        elif line.startswith(","):
            step_type = fields[3]
        else:
            cycles.append(fields)
            if len(fields) > 8:  # the cycle's first step row written on the cycle row, after its 8 fields
                step_type = fields[8 + 2]
    m = _read("neware-csv", path)
    assert len(m.data) == len(records) == 9295
    c = {n: rec_head.index(n) for n in ("Total Time", "Current(A)", "Voltage(V)", "Date")}
    for i in (0, -1):
        row = records[i][0]
        assert m.data["time_s"].iloc[i] == _hms(row[c["Total Time"]]) - _hms(records[0][0][c["Total Time"]])
        assert m.data["current_a"].iloc[i] == float(row[c["Current(A)"]])
        assert m.data["voltage_v"].iloc[i] == float(row[c["Voltage(V)"]])
    assert _ts(m, 0) == datetime.strptime(records[0][0][c["Date"]], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert m.data["cycle"].iloc[-1] == int(cycles[-1][0]) and m.data["cycle"].iloc[0] == int(cycles[0][0])
    # the cycle rows' own totals: net charge = sum(Chg. Cap.) - sum(DChg. Cap.) (5 decimals each)
    net = sum(float(r[1]) - float(r[2]) for r in cycles)
    assert m.data["vendor_capacity_ah"].iloc[-1] == pytest.approx(net, abs=1e-5 * 2 * len(cycles))
    discharge_rows = [i for i, (_, kind) in enumerate(records) if "DChg" in kind]
    assert (m.data["current_a"].iloc[discharge_rows] <= 0).all()
    assert m.meta["step_types"] == sorted({kind for _, kind in records})


NEWARE_FLAT = ("DataPoint,Cycle Index,Step Index,Step Type,Time,Cumulative Time,{cur},{volt},{cap},Date\n"
               "1,1,1,CC Chg,00:00:00,00:00:00,{i1},{v1},0,2022-05-18 16:27:52\n"
               "2,1,1,CC Chg,00:00:10,00:00:10,{i1},{v2},{q},2022-05-18 16:28:02\n")


def test_neware_csv_units_from_the_header_spec_built(tmp_path):
    path = tmp_path / "uA.csv"
    path.write_text(NEWARE_FLAT.format(cur="Current(µA)", volt="Voltage(mV)", cap="Capacity(mAh)",
                                       i1="500", v1="3500", v2="3512.5", q="0.0013888"), encoding="utf-8")
    m = _read("neware-csv", path)
    assert m.data["current_a"].iloc[0] == pytest.approx(500e-6, rel=1e-12)  # µA -> A by hand
    assert m.data["voltage_v"].iloc[1] == pytest.approx(3.5125, rel=1e-12)  # mV -> V
    assert m.data["vendor_capacity_ah"].iloc[1] == pytest.approx(1.3888e-6, rel=1e-12)  # mAh -> Ah


def test_neware_csv_unknown_unit_is_refused_by_name_spec_built(tmp_path):
    path = tmp_path / "kA.csv"
    path.write_text(NEWARE_FLAT.format(cur="Current(kA)", volt="Voltage(V)", cap="Capacity(Ah)",
                                       i1="1", v1="3.5", v2="3.6", q="0.1"), encoding="utf-8")
    assert detect(path, path.name, "echem").name == "neware-csv"
    with pytest.raises(UnreadableFile, match=r"unknown current unit 'kA'"):
        _read("neware-csv", path)


@pytest.mark.parametrize("rel", ["real/echem/neware/test.nda", "real/echem/neware/test.ndax",
                                 "real/echem/neware/20260302_IFE_BTS85_2_9_8_1.ndax"])
def test_neware_binary_matches_newarenda(data_dir, rel):
    import NewareNDA

    theirs = NewareNDA.read(str(data_dir / rel))
    ours = _read("neware-nda", data_dir / rel)
    assert len(ours.data) == len(theirs)
    np.testing.assert_allclose(ours.data["voltage_v"], theirs["Voltage"], atol=1e-6)
    np.testing.assert_allclose(ours.data["current_a"], theirs["Current(mA)"] / 1000.0, atol=1e-9)
    np.testing.assert_array_equal(ours.data["cycle"], theirs["Cycle"])


# ---------------------------------------------------------------- Novonix
def test_novonix_quoted_export_matches_beep(peer):
    from beep.structure.novonix import NovonixDatapath

    path = peer / "novonix_csv/test_Nova_Form-CH01-01_short.csv"
    theirs = NovonixDatapath.from_file(str(path.resolve())).raw_data
    ours = _read("novonix-csv", path)
    assert len(ours.data) == len(theirs) == 3942
    np.testing.assert_allclose(ours.data["voltage_v"], theirs["voltage"], atol=1e-8)
    np.testing.assert_allclose(ours.data["current_a"], theirs["current"], atol=1e-3)  # beep rounds to mA
    np.testing.assert_allclose(ours.data["time_s"], theirs["test_time"] * 3600.0, atol=1e-3)  # hours there
    assert _ts(ours, 0) == datetime(2022, 4, 11, 10, 58, 7, tzinfo=UTC)  # '2022-04-11 10:58:07 AM'
    # start + Run Time (h); the date column has whole seconds
    assert abs((_ts(ours, -1) - datetime(2022, 4, 12, 4, 24, 11, tzinfo=UTC)).total_seconds()) < 1.0


def test_novonix_current_matches_csv_module(peer):
    path = peer / "novonix_csv/test_Nova_Form-CH01-01_short.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    h = lines.index("[Data]") + 1
    rows = [ln.strip('"').split(",") for ln in lines[h:] if ln.strip()]
    head, rows = rows[0], rows[1:]
    ours = _read("novonix-csv", path)
    np.testing.assert_array_equal(ours.data["current_a"], [float(r[head.index("Current (A)")]) for r in rows])


MISSING = [  # reader, file name, content (a needed column left out), the column the reason must name
    ("novonix-csv", "n.csv", "[Summary]\nNovonix\n[Data]\nDate and Time,Run Time (h),Potential (V)\n"
                             "2022-01-01 10:00:00,0.0,3.1\n", "Current (A)"),
    ("maccor-text", "m.001", "Today's Date 01/01/2020  Date of Test:\t01/01/2020\nRec#\tTest (Sec)\tVolts\tDPt Time\n"
                             "1\t0\t3.5\t01/01/2020 10:00:00\n", "current (Amps)"),
    ("neware-csv", "w.csv", "Step Type,Current(A),Voltage(V),Step Index\nRest,0,3.5,1\n", "time"),
    ("basytec-text", "b.txt", "~Resultfile from Basytec\n~Time[h]\tI[A]\tLine\n0\t0\t1\n", "U[V]"),
]


@pytest.mark.parametrize("reader,name,content,column", MISSING, ids=[m[0] for m in MISSING])
def test_missing_column_is_refused_naming_it_and_the_columns_found_spec_built(tmp_path, reader, name, content, column):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert R[reader].sniff(read_head(path), name)
    with pytest.raises(UnreadableFile) as refusal:
        _read(reader, path)
    assert column in str(refusal.value) and "the file has columns" in str(refusal.value)


# ---------------------------------------------------------------- Arbin
@pytest.mark.parametrize("name", ["FastCharge_000025_CH8.csv", "arbin_example.csv"])
def test_arbin_csv_matches_beep_and_csv_module(peer, name):
    from beep.structure.arbin import ArbinDatapath

    path = peer / "arbin_csv" / name
    theirs = ArbinDatapath.from_file(str(path.resolve())).raw_data
    ours = _read("arbin-csv", path)
    assert len(ours.data) == len(theirs)
    np.testing.assert_allclose(ours.data["voltage_v"], theirs["voltage"], atol=1e-7)
    np.testing.assert_allclose(ours.data["current_a"], theirs["current"], atol=1e-7)
    np.testing.assert_allclose(ours.data["time_s"], theirs["test_time"] - theirs["test_time"].iloc[0], atol=1e-6)
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    for i, tol in ((0, 1e-3), (-1, 1.0)):  # DateTime is Unix seconds (no zone); some exports whole seconds
        expected = datetime.fromtimestamp(float(rows[i]["DateTime"]), tz=UTC)
        assert abs((_ts(ours, i) - expected).total_seconds()) < tol
        net = float(rows[i]["Charge_Capacity"]) - float(rows[i]["Discharge_Capacity"])
        assert ours.data["vendor_capacity_ah"].iloc[i] == pytest.approx(net, abs=1e-9)
    assert ours.meta["timezone_source"].startswith("file")


@pytest.mark.parametrize("name", ["20160805_test001_45_cc_02.res", "aux_multi_x.res"])
def test_arbin_res_matches_mdb_export(peer, name):
    path = peer / "arbin_res" / name
    raw = subprocess.run(["mdb-export", str(path), "Channel_Normal_Table"], capture_output=True, check=True).stdout
    rows = sorted(csv.DictReader(io.StringIO(raw.decode())), key=lambda r: int(r["Data_Point"]))
    ours = _read("arbin-res", path)
    assert len(ours.data) == len(rows)
    for i in (0, -1):
        assert ours.data["time_s"].iloc[i] == pytest.approx(float(rows[i]["Test_Time"]) - float(rows[0]["Test_Time"]))
        assert ours.data["voltage_v"].iloc[i] == float(rows[i]["Voltage"])
        assert ours.data["current_a"].iloc[i] == float(rows[i]["Current"])
        net = float(rows[i]["Charge_Capacity"]) - float(rows[i]["Discharge_Capacity"])
        assert ours.data["vendor_capacity_ah"].iloc[i] == pytest.approx(net, abs=1e-12)
    ole = float(rows[0]["DateTime"])  # days since 1899-12-30, tester's local time (UTC by default)
    expected = datetime(1899, 12, 30, tzinfo=UTC) + timedelta(days=ole)
    assert abs((_ts(ours, 0) - expected).total_seconds()) < 1e-3


# ---------------------------------------------------------------- cellpy custom layout
def test_cellpy_custom_layout_matches_csv_module(peer):
    path = peer / "generic_csv/custom_data_001.csv"
    lines = path.read_text(encoding="latin-1").splitlines()
    skip = int(lines[1].split(";")[1])  # 'number of headers ;19'
    rows = [r for r in csv.DictReader(lines[skip:], delimiter=";") if r["index"]]
    ours = _read("generic-csv", path)
    assert len(ours.data) == len(rows) == 2442
    for i in (0, -1):
        assert ours.data["time_s"].iloc[i] == pytest.approx(float(rows[i]["test_time"]) - float(rows[0]["test_time"]))
        assert ours.data["voltage_v"].iloc[i] == float(rows[i]["voltage"])
        assert ours.data["cycle"].iloc[i] == int(rows[i]["cycle"])
    excel = datetime(1899, 12, 30, tzinfo=UTC) + timedelta(days=float(rows[0]["date_stamp"]))
    assert abs((_ts(ours, 0) - excel).total_seconds()) < 1e-3
    assert ours.meta["units_assumed"]["current_a"] == "A" and ours.meta["start_resolution_s"] == pytest.approx(864)


@pytest.fixture
def data_dir(real) -> Path:
    return real.parent
