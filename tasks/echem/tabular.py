"""Fast delimited-text loading shared by the text readers (pyarrow's CSV engine, only needed columns).

Readers get a ``Columns`` object: column names plus per-column access as numpy/pandas, converted
lazily, so a 70-column BioLogic export costs only the five columns a cycler record needs.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tasks.contract import UnreadableFile
from tasks.echem.canonical import localize_utc

NULLS = ["", "N/A", "NaN", "nan", "-"]


class Columns:
    """Read-only column access over a pyarrow Table (or a numpy record array, e.g. from galvani)."""

    def __init__(self, table: pa.Table | np.ndarray):
        self._table = table
        names = table.column_names if isinstance(table, pa.Table) else list(table.dtype.names)
        self.columns = [str(c) for c in names]

    def __len__(self) -> int:
        return self._table.num_rows if isinstance(self._table, pa.Table) else len(self._table)

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def arrow(self, name: str) -> pa.ChunkedArray:
        return self._table.column(name)

    def __getitem__(self, name: str) -> pd.Series:
        if isinstance(self._table, pa.Table):
            return self._table.column(name).to_pandas()
        return pd.Series(self._table[name])

    def array(self, name: str) -> np.ndarray:
        if isinstance(self._table, pa.Table):
            col = self._table.column(name)
            if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
                return col.to_numpy().astype("float64", copy=False) if col.null_count == 0 else \
                    pc.fill_null(pc.cast(col, pa.float64()), float("nan")).to_numpy()
            return np.asarray(self[name])
        return np.asarray(self._table[name])


def column_names(header_line: str, first_row: str, delimiter: str) -> list[str]:
    """Names for a header whose trailing delimiter does not match the data rows (BioLogic, Maccor):
    drop empty trailing names, then pad so that the count equals the fields of the first data row."""
    names = [n.strip() for n in header_line.rstrip("\r\n").split(delimiter)]
    while names and names[-1] == "":
        names.pop()
    fields = first_row.rstrip("\r\n").split(delimiter)
    names += [f"_unnamed{i}" for i in range(len(fields) - len(names))]
    seen: dict[str, int] = {}
    unique = []
    for n in names:  # duplicate vendor names (two Temperature columns) must stay distinct
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n}.{seen[n] - 1}")
    return unique


def read_delimited(source: Path | io.BytesIO, *, skip_rows: int, delimiter: str, encoding: str = "utf8",
                   label: str, names: list[str] | None = None, include: Iterable[str] | None = None,
                   strings: Iterable[str] = ()) -> Columns:
    """The table whose header row follows ``skip_rows`` lines (or, with ``names``, whose data starts
    after ``skip_rows`` lines); only the ``include`` columns are converted; ``strings`` stay text."""
    include = [c for c in include] if include is not None else []
    types = {c: pa.string() for c in strings}

    def read(src, column_names):
        return pacsv.read_csv(
            src,
            read_options=pacsv.ReadOptions(skip_rows=skip_rows, encoding=encoding, block_size=1 << 22,
                                           column_names=column_names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True, null_values=NULLS,
                                                 include_columns=include, column_types=types))

    try:
        try:
            table = read(source, names)
        except pa.ArrowInvalid as exc:
            if names is None or "Expected" not in str(exc) or not isinstance(source, Path):
                raise
            # ragged rows: some exporters end only some lines with a delimiter; drop trailing ones
            data = re.sub(rb"[" + re.escape(delimiter.encode()) + rb"]+(\r?\n)", rb"\1", source.read_bytes())
            trimmed = list(names)
            while trimmed and trimmed[-1].startswith("_unnamed"):
                trimmed.pop()
            table = read(io.BytesIO(data), trimmed)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{label}: the data table after line {skip_rows} cannot be parsed ({exc}); "
                             "the export may be truncated or use another delimiter") from None
    return Columns(table)


def header_names(path: Path, skip_rows: int, delimiter: str, encoding: str = "utf8") -> list[str]:
    """Column names of a header row, read without parsing the data."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode(encoding, errors="replace").lstrip("\ufeff")
    line = head.splitlines()[skip_rows]
    return [n.strip().strip('"') for n in line.split(delimiter)]


def hms_seconds(col: pa.ChunkedArray) -> np.ndarray:
    """'123:04:05.5' (hours may exceed 24) -> seconds, in Arrow kernels (no Python per row)."""
    parts = pc.split_pattern(col, ":")
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    if not np.all(lengths == 3):
        return np.full(len(col), np.nan)
    flat = pc.cast(pc.list_flatten(parts), pa.float64()).to_numpy().reshape(-1, 3)
    return flat[:, 0] * 3600 + flat[:, 1] * 60 + flat[:, 2]


def fixed_datetime_utc(col: pa.ChunkedArray, order: str, tz: str | None) -> pd.Series | None:
    """Zero-padded 'MM/DD/YYYY HH:MM:SS[.fff]' (order 'mdy') or 'DD/MM/YYYY ...' ('dmy') rearranged to
    ISO in Arrow and cast there (fractional seconds kept); None when the strings are not fixed-width."""
    s = pc.utf8_trim_whitespace(col)
    if len(s) == 0 or not pc.all(pc.match_substring_regex(s, r"^\d\d/\d\d/\d{4} \d\d:\d\d:\d\d")).as_py():
        return None
    a, b = pc.utf8_slice_codeunits(s, 0, 2), pc.utf8_slice_codeunits(s, 3, 5)
    month, day = (a, b) if order == "mdy" else (b, a)
    iso = pc.binary_join_element_wise(pc.utf8_slice_codeunits(s, 6, 10), month, day, "-")
    iso = pc.binary_join_element_wise(iso, pc.utf8_slice_codeunits(s, 11, 40), "T")
    stamps = pd.Series(pc.cast(iso, pa.timestamp("us")).to_pandas())
    return localize_utc(stamps, tz)
