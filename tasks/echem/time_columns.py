"""Time columns of cycler text exports, in every common form, as seconds — one parser for every reader.

Forms (detected from the values; a share names one with ``reader_options.time_form`` when detection
is not enough, e.g. Excel serial days, which look like any other number):

- ``seconds`` / ``minutes`` / ``hours``: numbers (a decimal comma is accepted);
- ``duration``: ``hh:mm:ss[.f]`` (hours may exceed 24), ``d-hh:mm:ss``, ``1d 02:03:04``, ``1 days 02:03:04``;
- ``datetime``: ISO 8601 date-times (``2024-03-01T12:00:00.5``, with or without ``Z``/``+01:00``), or
  the vendor formats the reader passes;
- ``excel_days``: Excel serial days since 1899-12-30 (the fraction is the time of day).

Rules, the same for every reader (never zeros in place of a time):

- a value that does not parse in the column's form is an ``UnreadableFile`` naming the column, the first
  bad data row (1-based: row 1 is the first line after the column row) and the value;
- an elapsed (test) time must not decrease. Equal consecutive values are allowed: fast logging repeats
  a value at the column's resolution. Step time restarts at every step: no reader uses it as the
  time axis, so it is never passed here.
- a wall clock (date-times) is converted to UTC with the share's ``timezone``; in UTC a daylight-saving
  change is no jump, and the repeated autumn hour is resolved from the record order. A wall clock
  that still steps back (no zone given, a clock resync) is kept and flagged ``clock_jump`` by
  ``canonical.build`` rather than refused: the records' order is the file's, only its clock jumped.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from foundation.contract import UnreadableFile
from tasks.echem.canonical import localize_utc

OPTION = "time_form"
FORMS = ("seconds", "minutes", "hours", "duration", "datetime", "excel_days")
ALIASES = {"s": "seconds", "min": "minutes", "h": "hours", "hh:mm:ss": "duration", "h:mm:ss": "duration",
           "d-hh:mm:ss": "duration", "d-h:mm:ss": "duration", "d hh:mm:ss": "duration",
           "1d 02:03:04": "duration", "iso": "datetime", "iso8601": "datetime", "excel": "excel_days"}
OPTION_DOC = ("form of the time column when its values do not say: seconds | minutes | hours | duration "
              "(hh:mm:ss[.f], d-hh:mm:ss, 1d 02:03:04) | datetime (ISO 8601) | excel_days (serial days since "
              "1899-12-30); default: detected from the values")
UNIT_S = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
WALL_FORMS = ("datetime", "excel_days")
#: 1899-12-30 in microseconds since 1970 (exact integer arithmetic; importing the module imports no pandas)
EXCEL_EPOCH_US = (datetime(1899, 12, 30) - datetime(1970, 1, 1)) // timedelta(microseconds=1)
DURATION = (r"^\s*(?:(?P<d>\d+)(?:\s*d(?:ays?)?\s*|-|\s+))?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d+(?:[.,]\d*)?)\s*$")
NUMBER = r"^\s*[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?\s*$"
ISO = r"^\s*\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d\d:?\d\d)?\s*$"


def named_form(options: Mapping[str, Any], label: str) -> str | None:
    """The share's ``time_form`` option as one of FORMS (None when not given)."""
    raw = options.get(OPTION)
    if raw is None or raw == "":
        return None
    form = ALIASES.get(str(raw).strip().lower(), str(raw).strip().lower())
    if form not in FORMS:
        raise UnreadableFile(f"{label}: reader_options.{OPTION}={raw!r} is not a time form; use one of "
                             f"{', '.join(FORMS)} (or {', '.join(ALIASES)})")
    return form


def elapsed_seconds(values: Any, *, column: str, label: str, form: str | None = None,
                    scale: float = 1.0) -> np.ndarray:
    """An elapsed (test) time column as float64 seconds: every row parsed, never decreasing.
    ``scale`` converts plain numbers (a unit in the column name: 60 for minutes); a wall-clock form
    gives seconds since the first record."""
    values = _normalise(values)
    form = form or detect_form(values, column, label)
    if form in WALL_FORMS:
        us, _ = wall_clock_us(values, column=column, label=label, form=form)
        seconds = (us - us[0]) / 1e6
    else:
        seconds = _seconds(values, form, scale)
        _refuse_unparsed(seconds, values, column, label, form)
    back = seconds[1:] < seconds[:-1]
    if back.any():
        row = int(np.argmax(back)) + 1
        raise UnreadableFile(
            f"{label}: the time column {column!r} decreases at data row {row + 1} ({_text(values, row)!r} after "
            f"{_text(values, row - 1)!r}, read as {form}); an elapsed time must not go back — re-export the "
            f"record in order, or name the column's form in the share's reader_options.{OPTION} if it was misread")
    return seconds


def wall_clock(values: Any, *, column: str, label: str, form: str | None = None, tz: str | None = None,
               formats: tuple[str, ...] = ()) -> pd.Series:
    """A date-time column as UTC timestamps (naive values are local time in ``tz``, default UTC)."""
    us, utc = wall_clock_us(values, column=column, label=label, form=form, formats=formats)
    stamps = pd.Series(us.view("M8[us]"), copy=False)
    if tz is None or tz == "UTC" or utc:
        return stamps.dt.tz_localize("UTC")
    try:  # the repeated autumn hour, resolved from the order of the records
        return stamps.dt.tz_localize(tz, ambiguous="infer", nonexistent="NaT").dt.tz_convert("UTC")
    except (ValueError, TypeError):  # not inferable (unordered): such rows lose their absolute time
        return localize_utc(stamps, tz)


def vendor_clock(values: Any, *, column: str, label: str, formats: tuple[str, ...], tz: str | None) -> pd.Series:
    """A vendor's own date-time column (Arbin ``Date Time``, Neware ``Date``, BioLogic absolute time, Maccor
    ``DPt Time``, Novonix ``Date and Time``) as UTC: the vendor's formats first (they fix day/month order),
    ISO 8601 else. A value that parses in neither is an UnreadableFile naming the column, its first bad
    data row and the value — never a silent NaT."""
    return wall_clock(values, column=column, label=label, form="datetime", tz=tz, formats=formats)


def wall_clock_us(values: Any, *, column: str, label: str, form: str | None = None,
                  formats: tuple[str, ...] = ()) -> tuple[np.ndarray, bool]:
    """Microseconds since 1970 of a date-time column, and whether they are UTC already (the text
    carried offsets) rather than the tester's naive local time."""
    values = _normalise(values)
    form = form or detect_form(values, column, label, formats)
    if form == "excel_days":
        days = _seconds(values, "seconds", 1.0)
        _refuse_unparsed(days, values, column, label, form)
        return np.round(days * 86400e6).astype("int64") + EXCEL_EPOCH_US, False
    if form != "datetime":
        raise UnreadableFile(f"{label}: the date-time column {column!r} holds {form} values "
                             f"({_text(values, 0)!r}); map it as the elapsed time instead, or name its form "
                             f"in reader_options.{OPTION}")
    stamps = _datetimes(values, formats)
    _refuse_unparsed(np.where(stamps.isna().to_numpy(), np.nan, 0.0), values, column, label, form)
    utc = stamps.dt.tz is not None
    if utc:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.to_numpy("M8[us]").view("int64"), utc


def detect_form(values: Any, column: str, label: str, formats: tuple[str, ...] = ()) -> str:
    """The form of a column from its first non-empty value (the whole column is then held to it)."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    values = _normalise(values)
    if isinstance(values, np.ndarray):
        return "seconds"
    if pa.types.is_timestamp(values.type):
        return "datetime"
    if pa.types.is_time(values.type):
        return "duration"
    first = pc.drop_null(values)
    first = first[0].as_py().strip() if len(first) else ""
    for form, pattern in (("seconds", NUMBER), ("duration", DURATION), ("datetime", ISO)):
        if pc.match_substring_regex(pa.array([first]), pattern)[0].as_py():
            return form
    if formats and pd.notna(_datetimes(pa.array([first]), formats)[0]):
        return "datetime"
    raise UnreadableFile(f"{label}: the time column {column!r} starts with {first!r} (data row 1), which is "
                         f"none of the known time forms; name its form in the share's reader_options.{OPTION} "
                         f"({' | '.join(FORMS)})")


def parse_duration(values: Any) -> np.ndarray:
    """'[d-]h:mm:ss[.f]' strings as seconds, NaN where a value is not a duration (no checks)."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    values = _normalise(values)
    if isinstance(values, np.ndarray):
        return np.full(len(values), np.nan)
    if pa.types.is_time(values.type):
        return _time_of_day_s(values)
    parts = pc.extract_regex(values, DURATION)  # null where the value is not a duration
    fields = []
    for name in ("d", "h", "m", "s"):
        text = pc.replace_substring(pc.struct_field(parts, name), ",", ".")
        text = pc.if_else(pc.equal(text, ""), "0", text)
        fields.append(pc.fill_null(pc.cast(text, pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    d, h, m, s = fields
    seconds = ((d * 24.0 + h) * 60.0 + m) * 60.0 + s
    seconds[(m >= 60) | (s >= 60)] = np.nan  # '1:75:00' is no duration
    return seconds


def _seconds(values: Any, form: str, scale: float) -> np.ndarray:
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    if form == "duration":
        return parse_duration(values)
    if form not in UNIT_S:
        raise ValueError(form)
    factor = UNIT_S[form] * scale
    if isinstance(values, np.ndarray):
        out = values.astype("float64", copy=True)
    elif pa.types.is_time(values.type):
        return np.full(len(values), np.nan)
    else:
        numbers = pc.if_else(pc.match_substring_regex(values, NUMBER), values, pa.scalar(None, pa.string()))
        numbers = pc.replace_substring(pc.utf8_trim_whitespace(numbers), ",", ".")
        out = pc.fill_null(pc.cast(numbers, pa.float64()), np.nan).to_numpy(zero_copy_only=False).copy()
    if factor != 1.0:
        out *= factor
    return out


def _datetimes(values: Any, formats: tuple[str, ...]) -> pd.Series:
    """Date-time strings (or an Arrow timestamp column) as a pandas datetime Series, NaT where unparsed."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    if pa.types.is_timestamp(values.type):
        return pd.Series(values.to_pandas(), copy=False)
    text = pd.Series(pc.utf8_trim_whitespace(values).to_pandas(), copy=False)
    for fmt in formats:  # the vendor's own formats first: they fix day/month order
        out = pd.to_datetime(text, format=fmt, errors="coerce")
        if out.notna().mean() > 0.95:
            return out
    iso = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=bool(_has_offset(text)))
    return iso


def _has_offset(text: pd.Series) -> bool:
    first = text.dropna()
    return bool(len(first)) and bool(pd.Series(first.iloc[:1]).str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").iloc[0])


def _time_of_day_s(values: pa.ChunkedArray) -> np.ndarray:
    """An Arrow time32/time64 column (Arrow infers 'hh:mm:ss' text as such) in seconds."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    as_us = pc.cast(pc.cast(values, pa.time64("us")), pa.int64())
    return pc.fill_null(pc.cast(as_us, pa.float64()), np.nan).to_numpy() / 1e6


def _normalise(values: Any) -> np.ndarray | pa.ChunkedArray:
    """numpy float64 for numbers, an Arrow (string/time/timestamp) ChunkedArray for everything else."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        col = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
        if pa.types.is_null(col.type):
            return pa.chunked_array([pa.nulls(len(col), pa.string())])
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            return pc.fill_null(pc.cast(col, pa.float64()), np.nan).to_numpy()
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_time(col.type) \
                or pa.types.is_timestamp(col.type):
            return col
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())])
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        return values.astype("float64", copy=False)
    if values.dtype.kind == "M":
        return pa.chunked_array([pa.array(values.astype("M8[us]"))])
    try:  # str objects (and None/NaN) convert in Arrow's C++
        return pa.chunked_array([pa.array(values, pa.string(), from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # bytes that are not UTF-8, numbers among text
        texts = [None if v is None or (isinstance(v, float) and np.isnan(v)) else
                 (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for v in values]
        return pa.chunked_array([pa.array(texts, pa.string())])


def _refuse_unparsed(parsed: np.ndarray, values: Any, column: str, label: str, form: str) -> None:
    bad = ~np.isfinite(parsed)
    if bad.any():
        row = int(np.argmax(bad))
        raise UnreadableFile(
            f"{label}: the time column {column!r} has {int(bad.sum())} value(s) that are not {form}, the first at "
            f"data row {row + 1}: {_text(values, row)!r}; fix or remove those rows, or name the column's form "
            f"in the share's reader_options.{OPTION} ({' | '.join(FORMS)})")


def _text(values: Any, row: int) -> str:
    """The value of one row as the file shows it (for error messages)."""
    if isinstance(values, np.ndarray):
        v = values[row]
        return "" if not np.isfinite(v) else format(float(v), "g")
    v = values[row].as_py()
    return "" if v is None else str(v)
