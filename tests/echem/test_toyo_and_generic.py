"""Formats without a public real file, built here from their documented layout (SCIENCE.md for TOSCAT)."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from foundation.registry import detect, read_head
from tasks.echem.plugin import READERS
from tasks.testing import assert_reader_conforms, assert_rejects

_BY_NAME = {r.name: r for r in READERS}


def ToyoReader():  # the registered instances: the conformance kit checks identity through the registry
    return _BY_NAME["toyo-toscat"]


def GenericCsvReader():
    return _BY_NAME["generic-csv"]

HEADER = "Date,Time,PassTime[Sec],Voltage[V],Current[mA],Temp1[deg],Condition,Mode,Cycle,TotlCycle\r\n"


def _step_file(date: str, start_s: int, n: int, cond: int, v0: float, ma: float) -> bytes:
    lines = ["TOSCAT-3000 data file\r\n", "Channel,3\r\n", "\r\n", HEADER]
    for k in range(n):
        s = start_s + 10 * k
        lines.append(f"{date},{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d},{10 * k},{v0 + 0.001 * k:.4f},"
                     f"{ma:.4f},25.0,{cond},1,1,1\r\n")
    return "".join(lines).encode("cp932")


def _folder(tmp_path, truncated=False):
    d = tmp_path / "coin9_toscat"
    d.mkdir()
    (d / "000001").write_bytes(_step_file("2026/05/01", 8 * 3600, 6, 0, 3.5, 0.0))
    (d / "000002").write_bytes(_step_file("2026/05/01", 8 * 3600 + 60, 30, 1, 3.6, 0.304))
    (d / "000003").write_bytes(_step_file("2026/05/01", 8 * 3600 + 360, 20, 2, 4.0, 0.304))
    steps = 4 if truncated else 3
    log = "Date,Time,Condition,Mode,Cycle,TotlCycle,Cap[mAh]\r\n" + "".join(
        f"2026/05/01,08:00:00,{k % 3},1,1,1,0.0\r\n" for k in range(steps))
    (d / "CAPACITY.LOG").write_bytes(log.encode())
    return d


def _zip(folder, dest):
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.writestr(zipfile.ZipInfo(p.name, (1980, 1, 1, 0, 0, 0)), p.read_bytes())
    return dest


def test_toyo_zip_conforms_and_folder_reads_the_same(tmp_path):
    folder = _folder(tmp_path)
    z = _zip(folder, tmp_path / "bundle.zip")
    [m] = assert_reader_conforms(ToyoReader(), z)
    assert detect(z, "renamed.bin", "echem").name == "toyo-toscat"
    direct = ToyoReader().read(folder, {})
    assert len(m.data) == len(direct.data) == 56
    d = m.data
    # discharge current negative, A not mA; condition from the sign
    assert d.loc[d["step"] == 3, "current_a"].eq(-0.304e-3).all()
    assert (d.loc[d["step"] == 2, "condition"] == "charge").all()
    # times: step 2 starts 60 s after step 1, from the Date/Time columns
    assert d.loc[d["step"] == 2, "time_s"].iloc[0] == pytest.approx(60.0)
    assert str(d["timestamp"].iloc[0]) == "2026-05-01 08:00:00+00:00"
    # charge: 0.304 mA for 290 s of logged records (+ the half-interval at the step edge)
    assert d.loc[d["step"] == 2, "charge_ah"].iloc[-1] == pytest.approx(0.304e-3 * 300 / 3600, rel=0.05)


def test_toyo_incomplete_folder_rejected(tmp_path):
    z = _zip(_folder(tmp_path, truncated=True), tmp_path / "bundle.zip")
    assert_rejects(ToyoReader(), z, "incomplete")


def test_zip_of_something_else_is_not_toyo(tmp_path):
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert not ToyoReader().sniff(read_head(z), "other.zip")


def test_generic_csv_with_mapping(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("t (h),I (mA),E (V),when\n0,0,3.5,2026-01-01 00:00:00\n0.5,2,3.7,2026-01-01 00:30:00\n"
                 "1.0,2,3.8,2026-01-01 01:00:00\n")
    opts = {"columns": {"time_s": "t (h)", "current_a": "I (mA)", "voltage_v": "E (V)", "timestamp": "when"},
            "scale": {"time_s": 3600, "current_a": 0.001}}
    m = GenericCsvReader().read(p, opts)
    np.testing.assert_allclose(m.data["time_s"], [0, 1800, 3600])
    assert m.data["charge_ah"].iloc[-1] == pytest.approx(0.5e-3 + 1.0e-3)  # trapezoids: (0+2)/2 mA x 0.5 h + 2 mA x 0.5 h
    assert_rejects(GenericCsvReader(), p, "reader_options.columns", options={"columns": {"time_s": "t (h)"}})
    assert_rejects(GenericCsvReader(), p, "not in the file",
                   options={"columns": {"time_s": "t", "current_a": "I", "voltage_v": "E"}})


def test_generic_csv_canonical_header_conforms(tmp_path):
    p = tmp_path / "canon.csv"
    p.write_text("time_s,current_a,voltage_v\n0,0,3.5\n10,0.001,3.6\n20,0.001,3.65\n")
    assert_reader_conforms(GenericCsvReader(), p)
