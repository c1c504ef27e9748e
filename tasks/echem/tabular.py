"""Fast delimited-text loading shared by the text readers (pyarrow's CSV engine, only needed columns).

Readers get a ``Columns`` object: column names plus per-column access as numpy/pandas, converted
lazily, so a 70-column BioLogic export costs only the five columns a cycler record needs.
"""
from __future__ import annotations

import functools
import io
import re
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from foundation.contract import UnreadableFile, cut_reason
from tasks.echem.canonical import localize_utc, utc_index

NULLS = ["", "N/A", "NaN", "nan", "-"]


class Columns:
    """Read-only column access over a pyarrow Table (or a numpy record array, e.g. from galvani)."""

    def __init__(self, table: pa.Table | np.ndarray):
        self._table = table
        names = table.column_names if isinstance(table, pa.Table) else list(table.dtype.names)
        self.columns = check_names([str(c) for c in names])

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

    def integers(self, name: str) -> np.ndarray | None:
        """An integer column without missing values as its own numpy integers; None otherwise."""
        if isinstance(self._table, pa.Table):
            col = self._table.column(name)
            if pa.types.is_integer(col.type) and col.null_count == 0:
                return col.to_numpy()
            return None
        values = np.asarray(self._table[name])
        return values if values.dtype.kind in "iu" else None

    def array(self, name: str) -> np.ndarray:
        import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
        if isinstance(self._table, pa.Table):
            col = self._table.column(name)
            if pa.types.is_null(col.type):  # an all-empty column: nothing logged
                return np.full(len(col), np.nan)
            if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
                return col.to_numpy().astype("float64", copy=False) if col.null_count == 0 else \
                    pc.fill_null(pc.cast(col, pa.float64()), float("nan")).to_numpy()
            return np.asarray(self[name])
        return np.asarray(self._table[name])


def check_names(names: list[str]) -> list[str]:
    """Column names as they are, or UnreadableFile when one is not valid text: a byte changed in the
    header row would make that column go missing and a default silently take its place."""
    damaged = [i for i, c in enumerate(names) if "\ufffd" in c or not c.replace("\t", " ").isprintable()]
    if damaged:
        raise UnreadableFile(f"the header row is damaged: column {damaged[0] + 1} has a name that is not valid "
                             "text (a byte that no export writes); copy or export the file again")
    return names


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
    return check_names(unique)


_EOL = re.compile(rb"\r\n|\n|\r")
_UTF8 = {"utf8", "utf-8", "utf_8", "utf-8-sig", "utf_8_sig"}
#: pyarrow's default block size: files above it are parsed in parallel blocks; should a pyarrow version
#: fail on a column whose inferred type changes between blocks (ints first, floats later), the read is
#: retried as a single block
BLOCK = 1 << 20


def data_offset(data: bytes, skip_rows: int) -> int | None:
    r"""Byte offset after ``skip_rows`` lines, counting line ends as pyarrow's CSV reader does
    (\r\n, \n or a lone \r; empty lines count); None when the file has fewer lines."""
    pos = 0
    for _ in range(skip_rows):
        m = _EOL.search(data, pos)
        if m is None:
            return None
        pos = m.end()
    return pos


def utf8_body(data: bytes, skip_rows: int, encoding: str) -> pa.Buffer | None:
    """The bytes after the skipped lines as UTF-8, without copying when they already are (pure ASCII
    in a single-byte encoding, or a UTF-8 file): pyarrow's own transcoding runs through Python codecs
    block by block and costs more than parsing. None when the file has fewer lines than ``skip_rows``."""
    if encoding.lower() not in _UTF8 and not ascii_compatible(encoding):  # UTF-16 & co: lines only after decoding
        data, encoding = data.decode(encoding).encode("utf-8"), "utf-8"
    off = data_offset(data, skip_rows)
    if off is None:
        return None
    if off == 0 and data.startswith(b"\xef\xbb\xbf"):
        off = 3
    if (encoding.lower() in _UTF8 or off == len(data)
            or (ascii_compatible(encoding) and np.frombuffer(data, np.uint8, offset=off).max() < 0x80)):
        return pa.py_buffer(data).slice(off)
    return pa.py_buffer(data[off:].decode(encoding).encode("utf-8"))


@functools.lru_cache(maxsize=32)
def ascii_compatible(encoding: str) -> bool:
    """Whether bytes below 0x80 mean the same ASCII characters in ``encoding`` (latin-1, cp1252,
    shift-jis: yes; UTF-16: no), so that pure-ASCII data need no transcoding."""
    try:
        return bytes(range(128)).decode(encoding) == "".join(map(chr, range(128)))
    except (LookupError, UnicodeDecodeError):
        return False


def strip_trailing(data: bytes, delimiter: bytes) -> bytes:
    r"""Delimiters at the end of lines removed (what re.sub(rb"[d]+(\r?\n)", rb"\1") does), with
    bytes.replace passes: a memchr-speed scan each instead of a regex step per byte."""
    for eol in (b"\r\n", b"\n"):
        while delimiter + eol in data:
            data = data.replace(delimiter + eol, eol)
    return data


def read_delimited(source: Path | io.BytesIO, *, skip_rows: int, delimiter: str, encoding: str = "utf8",
                   label: str, names: list[str] | None = None, include: Iterable[str] | None = None,
                   strings: Iterable[str] = ()) -> Columns:
    """The table whose header row follows ``skip_rows`` lines (or, with ``names``, whose data starts
    after ``skip_rows`` lines); only the ``include`` columns are converted; ``strings`` stay text."""
    include = [c for c in include] if include is not None else []
    types = {c: pa.string() for c in strings}

    def read(body: pa.Buffer, column_names, block_size=BLOCK):
        return pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(block_size=block_size, column_names=column_names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True, null_values=NULLS,
                                                 include_columns=include, column_types=types))

    def read_any(body: pa.Buffer, column_names):
        try:
            return read(body, column_names)
        except pa.ArrowInvalid as exc:
            if body.size <= BLOCK or "conversion error" not in str(exc):
                raise
            return read(body, column_names, block_size=body.size + 1)  # one block: types from all rows

    data = source.read_bytes() if isinstance(source, Path) else source.getvalue()
    try:
        body = utf8_body(data, skip_rows, encoding)
        if body is None:
            raise pa.ArrowInvalid("Empty CSV file: fewer lines than the header announces")
        try:
            table = read_any(body, names)
        except pa.ArrowInvalid as exc:
            if names is None or "Expected" not in str(exc):
                raise
            # ragged rows: some exporters end only some lines with a delimiter; drop trailing ones
            trimmed_body = strip_trailing(body.to_pybytes(), delimiter.encode())
            trimmed = list(names)
            while trimmed and trimmed[-1].startswith("_unnamed"):
                trimmed.pop()
            table = read_any(pa.py_buffer(trimmed_body), trimmed)
        return Columns(table)  # column names are decoded here: a damaged header fails here
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        # Arrow quotes the offending row: keep its diagnosis, never the file's bytes
        problem = cut_reason(re.sub(r"(got \d+)[:,].*", r"\1", str(exc), flags=re.S), 120)
        raise UnreadableFile(f"{label}: the data table after line {skip_rows} cannot be parsed ({problem}); "
                             "a row is incomplete or malformed: the export is truncated, damaged or uses another "
                             "delimiter") from None


def header_names(path: Path, skip_rows: int, delimiter: str, encoding: str = "utf8") -> list[str]:
    """Column names of a header row, read without parsing the data."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode(encoding, errors="replace").lstrip("\ufeff")
    lines = head.splitlines()
    if len(lines) <= skip_rows:
        raise UnreadableFile(f"{path.name}: the file ends before its header row (line {skip_rows + 1}); it is empty "
                             "or truncated")
    line = lines[skip_rows]
    return check_names([n.strip().strip('"') for n in line.split(delimiter)])


def fixed_datetime_utc(col: pa.ChunkedArray, order: str, tz: str | None) -> pd.Series | None:
    """Zero-padded 'MM/DD/YYYY HH:MM:SS[.fff]' (order 'mdy') or 'DD/MM/YYYY ...' ('dmy') as UTC
    timestamps (fractional seconds kept); None when the strings are not fixed-width."""
    us = _fixed_width_us(col, order)
    if us is None:
        return _fixed_datetime_arrow(col, order, tz)
    return localize_utc_us(us, tz)


def localize_utc_us(us: np.ndarray, tz: str | None) -> pd.Series:
    """Naive wall-clock microseconds (local time of the tester, ``tz``; default UTC) as a UTC Series."""
    if tz is None or tz == "UTC":
        return pd.Series(utc_index(us), copy=False)
    return localize_utc(pd.Series(us.view("M8[us]"), copy=False), tz)


_SEP = {2: ord("/"), 5: ord("/"), 10: ord(" "), 13: ord(":"), 16: ord(":")}
_DIGITS = [i for i in range(19) if i not in _SEP]


def _fixed_width_us(col: pa.ChunkedArray, order: str) -> np.ndarray | None:
    """The strings as naive microseconds since 1970, from their bytes in numpy (all rows one width,
    separators in place, fields in range); None otherwise (the Arrow path then decides)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0 or arr.null_count or not pa.types.is_string(arr.type):
        return None
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset:arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width < 19 or width == 20 or width > 26 or offsets[-1] - offsets[0] != n * width:
        return None
    if not np.all(np.diff(offsets) == width):
        return None
    raw = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0]:offsets[-1]].reshape(n, width)
    for pos, ch in _SEP.items():
        if not np.all(raw[:, pos] == ch):
            return None
    frac_digits = width - 20
    if frac_digits > 0 and not np.all(raw[:, 19] == ord(".")):
        return None
    digit_cols = _DIGITS + list(range(20, width))
    d = raw[:, digit_cols].astype(np.int64) - 48
    if not ((d >= 0) & (d <= 9)).all():
        return None
    a, b = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3]
    month, day = (a, b) if order == "mdy" else (b, a)
    year = d[:, 4] * 1000 + d[:, 5] * 100 + d[:, 6] * 10 + d[:, 7]
    hour, minute, sec = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    if not (((month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) & (minute < 60) & (sec < 60)).all()):
        return None
    months = (year - 1970) * 12 + month - 1
    days = months.astype("M8[M]").astype("M8[D]").astype(np.int64) + day - 1
    if not np.array_equal(days.astype("M8[D]").astype("M8[M]").astype(np.int64), months):
        return None  # a day beyond the end of its month
    frac = np.zeros(n, dtype=np.int64)
    for k in range(frac_digits):
        frac += d[:, 14 + k] * 10 ** (5 - k)
    return (days * 86400 + (hour * 60 + minute) * 60 + sec) * 1_000_000 + frac


def _fixed_datetime_arrow(col: pa.ChunkedArray, order: str, tz: str | None) -> pd.Series | None:
    """fixed_datetime_utc for what the numpy path declines (blanks around, nulls, odd widths): the
    strings rearranged to ISO in Arrow and cast there; None when they are not zero-padded dates."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    s = pc.utf8_trim_whitespace(col)
    if len(s) == 0 or not pc.all(pc.match_substring_regex(s, r"^\d\d/\d\d/\d{4} \d\d:\d\d:\d\d")).as_py():
        return None
    a, b = pc.utf8_slice_codeunits(s, 0, 2), pc.utf8_slice_codeunits(s, 3, 5)
    month, day = (a, b) if order == "mdy" else (b, a)
    iso = pc.binary_join_element_wise(pc.utf8_slice_codeunits(s, 6, 10), month, day, "-")
    iso = pc.binary_join_element_wise(iso, pc.utf8_slice_codeunits(s, 11, 40), "T")
    stamps = pd.Series(pc.cast(iso, pa.timestamp("us")).to_pandas())
    return localize_utc(stamps, tz)
