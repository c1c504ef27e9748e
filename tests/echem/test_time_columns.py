"""Issue 18 (electrochemistry): time columns in every common form, and bad ones refused by name.

All files here are spec-built (written in tmp_path from the forms' definitions); the expected seconds
are worked out by hand in the comments, never taken from the reader. The real files of tests/data keep
reading identically (tests/test_every_data_file.py and the per-vendor tests).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foundation.contract import UnreadableFile
from foundation.parameters import load_params
from tasks.echem import features, time_columns
from tasks.echem.plugin import READERS, TECHNIQUE

_BY_NAME = {r.name: r for r in READERS}
GENERIC = _BY_NAME["generic-csv"]
MAP = {"time_s": "Time", "current_a": "I (A)", "voltage_v": "E (V)"}


def _csv(tmp_path, times: list[str], name: str = "cell.csv"):
    rows = [f"{t},0.001,{3.6 + 0.01 * k:.3f}" for k, t in enumerate(times)]
    path = tmp_path / name
    path.write_text("Time,I (A),E (V)\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("times, expected", [
    (["0", "1.5", '"2,5"'], [0, 1.5, 2.5]),  # seconds, a (quoted) decimal comma too
    (["00:00:00", "01:02:03.5", "26:00:00"], [0, 3723.5, 93600]),  # 1 h 2 min 3.5 s; hours beyond 24
    (["0-00:00:00", "0-23:59:59", "1-02:03:04.5"], [0, 86399, 93784.5]),  # 86400 + 7200 + 180 + 4.5
    (["0d 00:00:10", "1d 02:03:04", "2d 00:00:00.25"], [0, 93774, 172790.25]),  # Maccor style, less 10 s
    (["1 days 02:03:04", "1 days 02:03:04", "1 days 02:03:05"], [0, 0, 1]),  # pandas style; a repeat is fine
])
def test_duration_and_number_forms_are_detected(tmp_path, times, expected):
    m = GENERIC.read(_csv(tmp_path, times), {"columns": MAP})
    np.testing.assert_allclose(m.data["time_s"], expected)


def test_iso_datetimes_give_seconds_and_the_start(tmp_path):
    m = GENERIC.read(_csv(tmp_path, ["2024-03-01T00:00:00", "2024-03-01T00:00:01.5", "2024-03-02 00:00:00"]),
                     {"columns": MAP})
    np.testing.assert_allclose(m.data["time_s"], [0, 1.5, 86400])
    assert m.data["timestamp"].iloc[0] == pd.Timestamp("2024-03-01T00:00:00Z")


def test_excel_serial_days_when_the_form_is_named(tmp_path):
    # 45352 days after 1899-12-30 is 2024-03-01 (45292 = 2024-01-01, + 31 January + 29 February days)
    path = _csv(tmp_path, ["45352", "45352.5", "45353.25"])
    m = GENERIC.read(path, {"columns": MAP, "time_form": "excel_days"})
    np.testing.assert_allclose(m.data["time_s"], [0, 43200, 108000])
    assert m.data["timestamp"].iloc[0] == pd.Timestamp("2024-03-01T00:00:00Z")
    # the same numbers unnamed are seconds: the column map names the form per column as well
    mapped = dict(MAP, time_s={"column": "Time", "form": "excel_days"})
    assert GENERIC.read(path, {"columns": mapped}).data["time_s"].iloc[-1] == pytest.approx(108000)
    assert GENERIC.read(path, {"columns": MAP}).data["time_s"].iloc[-1] == pytest.approx(1.25)


def test_wall_clock_through_the_autumn_dst_change(tmp_path):
    # Europe/Berlin, 27 Oct 2024: 02:00-03:00 happens twice (CEST, then CET). In UTC: 00:30, 00:59,
    # 01:10, 01:40, 02:10 -> 0, 1740, 2400, 4200, 6000 s; no jump, no refusal
    times = ["2024-10-27 02:30:00", "2024-10-27 02:59:00", "2024-10-27 02:10:00", "2024-10-27 02:40:00",
             "2024-10-27 03:10:00"]
    m = GENERIC.read(_csv(tmp_path, times), {"columns": MAP, "timezone": "Europe/Berlin"})
    np.testing.assert_allclose(m.data["time_s"], [0, 1740, 2400, 4200, 6000])
    assert not m.data["clock_jump"].any()
    # without the zone, the naive clock steps back by 49 min: kept and flagged, not refused
    naive = GENERIC.read(_csv(tmp_path, times), {"columns": MAP})
    assert naive.data["clock_jump"].sum() == 1


def test_a_garbage_time_is_refused_with_column_row_and_value(tmp_path):
    path = _csv(tmp_path, ["0-00:00:00", "0-00:00:10", "0-00:00:2O", "0-00:00:30"])  # letter O
    with pytest.raises(UnreadableFile) as err:
        GENERIC.read(path, {"columns": MAP})
    assert "'Time'" in str(err.value) and "data row 3" in str(err.value) and "0-00:00:2O" in str(err.value)
    assert "reader_options.time_form" in str(err.value)


def test_a_decreasing_time_is_refused_with_column_row_and_value(tmp_path):
    path = _csv(tmp_path, ["0", "10", "20", "15", "30"])
    with pytest.raises(UnreadableFile) as err:
        GENERIC.read(path, {"columns": MAP})
    assert "'Time'" in str(err.value) and "decreases at data row 4" in str(err.value) and "'15'" in str(err.value)


def test_an_unknown_form_and_an_unnamed_odd_form_are_refused(tmp_path):
    path = _csv(tmp_path, ["t+0", "t+10"])
    with pytest.raises(UnreadableFile, match="none of the known time forms"):
        GENERIC.read(path, {"columns": MAP})
    with pytest.raises(UnreadableFile, match="is not a time form"):
        GENERIC.read(path, {"columns": MAP, "time_form": "fortnights"})


def test_a_vendor_reader_refuses_a_damaged_test_time(tmp_path):
    path = tmp_path / "arbin.csv"
    path.write_text("Data_Point,Test_Time(s),Current(A),Voltage(V)\n1,0,0,3.5\n2,10,0.1,3.6\n3,,0.1,3.7\n")
    with pytest.raises(UnreadableFile, match=r"'Test_Time\(s\)'.*data row 3"):
        _BY_NAME["arbin-csv"].read(path, {})


def test_every_text_reader_documents_the_time_form_option():
    for name in ("generic-csv", "maccor-text", "neware-csv", "arbin-csv", "basytec-text", "novonix-csv",
                 "biologic-text"):
        assert time_columns.OPTION in _BY_NAME[name].options_doc, name


def _gitt_csv(tmp_path):
    """A GITT run logged with 'd-h:mm:ss' times: 8 x (3 h rest at 30 s, 180 s pulse of 1 mA at 10 s),
    then a last rest; 8 x 11,000 s puts the last pulses past one day."""
    rows, t, v = [], 0, 3.60
    for _ in range(8):
        for k in range(0, 10800, 30):
            rows.append((t + k, 0.0, v + 0.002 * np.exp(-k / 600)))
        t += 10800
        for k in range(0, 200, 10):  # 180 s pulse plus the step to the next rest at 190, 200... (rest)
            on = k < 180
            rows.append((t + k, 1e-3 if on else 0.0, v + (0.02 + 0.003 * np.sqrt(k) if on else 0.004)))
        t += 200
        v += 0.005
    for k in range(0, 10800, 30):
        rows.append((t + k, 0.0, v))

    def dhms(s: int) -> str:
        return f"{s // 86400}-{s % 86400 // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"

    path = tmp_path / "gitt.csv"
    path.write_text("Time,I (A),E (V)\n" + "".join(f"{dhms(s)},{i},{e:.5f}\n" for s, i, e in rows))
    return path, np.array([r[0] for r in rows], dtype="float64")


def test_gitt_csv_with_day_hour_times_reaches_the_pulses(tmp_path):
    path, seconds = _gitt_csv(tmp_path)
    assert "\n1-3:24:40," in path.read_text()  # the file does cross a day: 8 x 11000 + 10770 s = 1 d 3:24:40
    m = GENERIC.read(path, {"columns": MAP})
    np.testing.assert_allclose(m.data["time_s"], seconds)  # was all zeros before issue 18
    tables = features.compute(m.data, "G1", features.cell_figures(None, m.meta),
                              load_params(TECHNIQUE.default_params).values)
    pulses = tables["gitt_pulses"]
    assert len(pulses) == 8 and (pulses["direction"] == "charge").all()
    np.testing.assert_allclose(pulses["tau_s"], 180)
    assert tables["echem_series"]["mode"].iloc[0] == "GITT"


def test_neware_total_time_in_days_is_the_clock_not_the_date(tmp_path):
    # BTSDA writes Total Time as d-hh:mm:ss past one day; the Date column (here 5 s apart on purpose)
    # must only give the start, never replace the test time (it did when Total Time did not parse)
    path = tmp_path / "neware.csv"
    path.write_text("Cycle Index,Step Index,Step Type,Total Time,Voltage(V),Current(mA),Capacity(mAh),Date\n"
                    "1,1,CC Chg,0-23:59:58.5,3.6,1.0,0.1,2024-03-01 01:00:00\n"
                    "1,1,CC Chg,0-23:59:59.5,3.61,1.0,0.2,2024-03-01 01:00:05\n"
                    "1,1,CC Chg,1-00:00:00.5,3.62,1.0,0.3,2024-03-01 01:00:10\n")
    m = _BY_NAME["neware-csv"].read(path, {})
    np.testing.assert_allclose(m.data["time_s"], [0, 1, 2])  # 86398.5, 86399.5, 86400.5 s
    assert m.data["timestamp"].iloc[0] == pd.Timestamp("2024-03-01T01:00:00Z")
    bad = tmp_path / "neware_bad.csv"
    bad.write_text(path.read_text().replace("1-00:00:00.5", "0-23:00:00.5"))
    with pytest.raises(UnreadableFile, match=r"'Total Time' decreases at data row 3"):
        _BY_NAME["neware-csv"].read(bad, {})
