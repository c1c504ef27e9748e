"""Every real cycler file in the fixtures parses (conformance kit) or is rejected with a specific reason.

Expected values come from the files themselves read by other means: header text, the vendor's own
columns parsed with the csv module, galvani/fastnda/mdb-export directly.
"""
from __future__ import annotations

import csv
import io
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from foundation.registry import detect, read_head
from tasks.echem.plugin import READERS
from tasks.testing import assert_reader_conforms, assert_rejects

R = {r.name: r for r in READERS}

PARSES = [
    ("biologic-mpr", "biologic/00_test_01_OCV_C01.mpr"),
    ("biologic-mpr", "biologic/00_test_02_MB_C01.mpr"),
    ("biologic-mpr", "biologic/00_test_04_MB_C01.mpr"),
    ("biologic-mpr", "biologic/biol.mpr"),
    ("biologic-mpr", "biologic/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"),
    ("biologic-text", "biologic/Sample_data_biologic_01_MB_CA1.txt"),
    ("biologic-text", "biologic/Sample_data_biologic_no_header.mpt"),
    ("biologic-text", "biologic/test_loopsnewoutput_MB_CE1_short10k.csv"),
    ("maccor-text", "maccor/PreDiag_000229_000229_truncated.034"),
    ("maccor-text", "maccor/PredictionDiagnostics_000151_test.052"),
    ("maccor-text", "maccor/maccor_002.txt"),
    ("maccor-text", "maccor/maccor_test_file_4267-66-6519.041"),
    ("maccor-text", "maccor/sample_data_maccor.csv"),
    ("basytec-text", "other/sample_data_basytec.txt"),
    ("novonix-csv", "other/sample_data_novonix.csv"),
    ("neware-nda", "neware/20260302_IFE_BTS85_2_9_8_1.ndax"),
    ("neware-nda", "neware/test.nda"),
    ("neware-nda", "neware/test.ndax"),
    ("neware-csv", "neware/neware_uio.csv"),
    ("arbin-res", "arbin/20160805_test001_45_cc_01.res"),
    ("arbin-res", "arbin/arbin_example.res"),
    ("arbin-res", "arbin_gitt/20210210_FC_01_cc_01.res"),
    ("arbin-res", "arbin_gitt/20210210_FC_01_cc_02.res"),
    ("arbin-res", "arbin_gitt/20210210_FC_01_cc_04.res"),
    ("arbin-csv", "arbin/2017-05-09_test-TC-contact_CH33.csv"),
    ("arbin-csv", "arbin/sample_data_arbin.csv"),
]

REJECTED = [
    ("biologic-text", "biologic/test_loopsnewoutput_MB_CE1_short10k.mpl", "log/settings file"),
    ("arbin-csv", "arbin/2017-05-09_test-TC-contact_CH33_Metadata.csv", "metadata sidecar"),
]


def test_every_real_echem_file_is_listed(real):
    listed = {p for _, p in PARSES} | {p for _, p, _ in REJECTED}
    on_disk = {str(p.relative_to(real / "echem")) for p in (real / "echem").rglob("*") if p.is_file()}
    assert on_disk == listed


@pytest.mark.parametrize("reader_name,rel", PARSES)
def test_real_file_conforms_and_is_detected(real, reader_name, rel):
    path = real / "echem" / rel
    ms = assert_reader_conforms(R[reader_name], path)
    assert detect(path, "renamed.bin", "echem").name == reader_name, "content detection picks another reader"
    frame = ms[0].data
    assert len(frame) > 0
    assert np.all(np.diff(frame["time_s"].to_numpy()) >= 0), "time axis must be monotonic"
    assert set(frame["condition"].unique()) <= {"rest", "charge", "discharge"}


@pytest.mark.parametrize("reader_name,rel,reason", REJECTED)
def test_real_file_rejected_with_reason(real, reader_name, rel, reason):
    path = real / "echem" / rel
    assert detect(path, path.name, "echem").name == reader_name
    assert_rejects(R[reader_name], path, reason)


def _mdb_rows(path: Path, table: str) -> list[dict[str, str]]:
    out = subprocess.run(["mdb-export", str(path), table], capture_output=True, check=True).stdout.decode()
    return list(csv.DictReader(io.StringIO(out)))


def test_arbin_res_sorted_by_data_point_and_values_match_mdb(real):
    path = real / "echem/arbin_gitt/20210210_FC_01_cc_02.res"
    rows = _mdb_rows(path, "Channel_Normal_Table")
    points = [int(r["Data_Point"]) for r in rows]
    assert points != sorted(points), "the fixture is known to be out of order"
    by_point = sorted(rows, key=lambda r: int(r["Data_Point"]))
    frame = R["arbin-res"].read(path, {}).data
    assert len(frame) == len(rows)
    np.testing.assert_allclose(frame["voltage_v"], [float(r["Voltage"]) for r in by_point])
    np.testing.assert_allclose(frame["current_a"], [float(r["Current"]) for r in by_point])
    g = _mdb_rows(path, "Global_Table")[0]
    m = R["arbin-res"].read(path, {})
    assert m.meta["active_mass_mg"] == pytest.approx(float(g["MASS"]) * 1000)
    # Start_DateTime is an OLE date: days since 1899-12-30
    ole = float(g["Start_DateTime"])
    start = datetime(1899, 12, 30, tzinfo=timezone.utc).timestamp() + ole * 86400
    assert abs(frame["timestamp"].iloc[0].timestamp() - start) < 120


def test_biologic_text_header_length_and_start_from_header(real):
    path = real / "echem/biologic/Sample_data_biologic_01_MB_CA1.txt"
    text = path.read_text(encoding="latin-1").splitlines()
    n_header = int(text[1].split(":")[1])
    m = R["biologic-text"].read(path, {})
    assert len(m.data) == len([ln for ln in text[n_header:] if ln.strip()])
    line = next(ln for ln in text if ln.startswith("Acquisition started on"))
    start = datetime.strptime(line.split(" : ")[1].strip(), "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    assert m.data["timestamp"].iloc[0].to_pydatetime() == start
    # I/mA column in the header order -> A
    cols = text[n_header - 1].split("\t")
    first = text[n_header + 1000].split("\t")
    assert m.data["current_a"].iloc[1000] == pytest.approx(float(first[cols.index("I/mA")]) / 1000)


def test_biologic_decimal_comma_export(real):
    path = real / "xas/LiNiO2_operando_NiK/220726cell4operandoxas_C06.mpt"
    m = R["biologic-text"].read(path, {})
    text = path.read_text(encoding="latin-1").splitlines()
    n_header = int(text[1].split(":")[1])
    cols = text[n_header - 1].split("\t")
    last = text[-1].split("\t")
    assert m.data["voltage_v"].iloc[-1] == pytest.approx(float(last[cols.index("Ewe/V")].replace(",", ".")))


def test_biologic_csv_absolute_times(real):
    path = real / "echem/biologic/test_loopsnewoutput_MB_CE1_short10k.csv"
    rows = list(csv.reader(path.open(encoding="utf-8"), delimiter=";"))
    t_idx = rows[0].index("time/s")
    first = datetime.strptime(rows[1][t_idx], "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    last = datetime.strptime(rows[-1][t_idx], "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    frame = R["biologic-text"].read(path, {}).data
    assert frame["timestamp"].iloc[0].to_pydatetime() == first
    assert frame["time_s"].iloc[-1] == pytest.approx((last - first).total_seconds(), abs=1e-3)


def test_mpr_matches_galvani(real):
    from galvani import BioLogic

    path = real / "echem/biologic/biol.mpr"
    data = BioLogic.MPRfile(str(path)).data
    frame = R["biologic-mpr"].read(path, {}).data
    np.testing.assert_allclose(frame["voltage_v"], data["Ewe/V"])
    np.testing.assert_allclose(frame["current_a"], data["I/mA"] / 1000)


def test_mpr_without_galvani_says_how_to_install(real, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_galvani(name, *a, **k):
        if name.startswith("galvani"):
            raise ImportError("no galvani")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_galvani)
    assert_rejects(R["biologic-mpr"], real / "echem/biologic/biol.mpr", "pip install socscope[gpl]")


def test_neware_clock_jumps_flagged_and_time_monotonic(real):
    import fastnda

    path = real / "echem/neware/20260302_IFE_BTS85_2_9_8_1.ndax"
    table = fastnda.read(str(path))
    unix = table["unix_time_s"].to_numpy()
    jumps = int((np.diff(unix) < 0).sum())
    assert jumps > 0
    frame = R["neware-nda"].read(path, {}).data
    assert int(frame["clock_jump"].sum()) == jumps
    assert np.all(np.diff(frame["time_s"].to_numpy()) >= 0)
    np.testing.assert_allclose(frame["voltage_v"], table["voltage_V"].to_numpy().astype(float))
    np.testing.assert_allclose(frame["current_a"], table["current_mA"].to_numpy().astype(float) / 1000)


def test_maccor_time_units_and_signs(real):
    # maccor_002 logs TestTime in minutes: the DPT Time wall clock says so
    path = real / "echem/maccor/maccor_002.txt"
    lines = path.read_bytes().decode("latin-1").splitlines()
    rows = [ln.split("\t") for ln in lines if ln[:1].isdigit()]
    t0 = datetime.strptime(rows[0][12], "%m/%d/%Y %I:%M:%S %p")
    t1 = datetime.strptime(rows[-1][12], "%m/%d/%Y %I:%M:%S %p")
    frame = R["maccor-text"].read(path, {}).data
    assert frame["time_s"].iloc[-1] == pytest.approx((t1 - t0).total_seconds(), abs=90)
    d_rows = [r for r in rows if r[10] == "D" and float(r[8]) != 0]
    assert float(d_rows[0][8]) > 0, "this export logs |I| on discharge"
    assert (frame.loc[frame["condition"] == "discharge", "current_a"] < 0).all()
    # the old variant: '0d 00:00:01.0000'
    old = R["maccor-text"].read(real / "echem/maccor/maccor_test_file_4267-66-6519.041", {}).data
    assert old["time_s"].iloc[1] == pytest.approx(1.0)


def test_arbin_csv_unit_suffixed_matches_csv_module(real):
    path = real / "echem/arbin/sample_data_arbin.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    frame = R["arbin-csv"].read(path, {}).data
    np.testing.assert_allclose(frame["voltage_v"], [float(r["Voltage (V)"]) for r in rows])
    assert frame["time_s"].iloc[-1] == pytest.approx(float(rows[-1]["Test Time (s)"]) - float(rows[0]["Test Time (s)"]))


def test_sniffers_do_not_claim_each_others_files(real):
    for reader_name, rel in PARSES:
        head = read_head(real / "echem" / rel)
        claimed = [r.name for r in READERS if r.sniff(head, "renamed.bin")]
        assert claimed == [reader_name], f"{rel}: claimed by {claimed}"
