"""Issue 18 (electrochemistry): the vendors' own date-time columns on real cycler files, parsed through
tasks/echem/time_columns.py (``vendor_clock``): the first record's absolute time is the column's first value
read here with the format its vendor writes (datetime.strptime, not the reader); a value that parses in no
form is refused with the column and its data row, never left as a silent NaT."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from foundation.contract import UnreadableFile
from foundation.registry import read_measurements
from tasks.testing import sha256_of

#: file, its date-time column, delimiter, the vendor's format of that column
CASES = [
    ("real/echem/arbin/sample_data_arbin.csv", "Date Time", ",", "%m/%d/%Y %H:%M:%S.%f"),
    ("real/echem/neware/neware_uio.csv", "Date", ",", "%Y-%m-%d %H:%M:%S"),
    ("real/echem/maccor/sample_data_maccor.csv", "DPT Time", ",", "%d-%b-%y %I:%M:%S %p"),
    ("real/echem/maccor/maccor_002.txt", "DPT Time", "\t", "%m/%d/%Y %I:%M:%S %p"),
    ("real/echem/other/sample_data_novonix.csv", "Date and Time", ",", "%Y-%m-%d %H:%M:%S"),
]


def _first_value(path: Path, column: str, delimiter: str) -> tuple[int, int, str]:
    """(line index of the first record, column index, its text) found with the csv module."""
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig", errors="replace").splitlines()[:200],
                           delimiter=delimiter))
    at = next(i for i, r in enumerate(rows) if column in [c.strip() for c in r])
    col = [c.strip() for c in rows[at]].index(column)
    first = next(i for i in range(at + 1, len(rows)) if rows[i])  # Maccor leaves a blank line after the names
    return first, col, rows[first][col].strip()


def _read(path: Path, options=None):
    _, ms = read_measurements(path, sha256_of(path), path.name, technique_name="echem", options=options)
    return ms[0]


@pytest.mark.parametrize("rel,column,delimiter,fmt", CASES)
def test_first_record_time_is_the_vendor_column_as_written(real, rel, column, delimiter, fmt):
    path = real.parent / rel
    _, _, text = _first_value(path, column, delimiter)
    expected = pd.Timestamp(datetime.strptime(text, fmt), tz="UTC")  # naive times are UTC by default
    m = _read(path)
    assert m.data["timestamp"].iloc[0] == expected
    assert m.meta["start_utc"] == expected.isoformat()


def test_a_named_zone_moves_the_arbin_clock(real):
    """09/20/2024 in Europe/Berlin is summer time: UTC is two hours earlier than the wall clock."""
    path = real / "echem/arbin/sample_data_arbin.csv"
    _, _, text = _first_value(path, "Date Time", ",")
    local = datetime.strptime(text, "%m/%d/%Y %H:%M:%S.%f")
    m = _read(path, {"timezone": "Europe/Berlin"})
    assert m.data["timestamp"].iloc[0] == pd.Timestamp(local - timedelta(hours=2), tz="UTC")


@pytest.mark.parametrize("rel,column,delimiter,fmt", CASES)
def test_a_garbled_first_date_is_refused_with_column_and_row(real, tmp_path, rel, column, delimiter, fmt):
    path = real.parent / rel
    line, col, _ = _first_value(path, column, delimiter)
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    cells = lines[line].split(delimiter)
    cells[col] = "not a date"
    lines[line] = delimiter.join(cells)
    damaged = tmp_path / path.name
    damaged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match=rf"{column!r}.*data row 1: 'not a date'"):
        _read(damaged)
