"""The canonical cycler record every echem reader produces, and the steps all readers share.

Readers only translate vendor columns into SI units with the charge-positive sign convention; this
module then makes the time axis monotonic (clock jumps), derives the rest/charge/discharge condition
from the current, integrates the net charge and numbers the records — once, for every format.
"""
from __future__ import annotations

import functools
import inspect
from datetime import datetime
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from foundation.contract import Measurement, UnreadableFile

KIND = "cycler_record"

UNITS: dict[str, str] = {
    "record_index": "1",
    "time_s": "s",
    "timestamp": "UTC",
    "current_a": "A",
    "voltage_v": "V",
    "charge_ah": "Ah",
    "step": "1",
    "cycle": "1",
    "condition": "",
    "clock_jump": "",
    "vendor_capacity_ah": "Ah",
}

CONDITIONS = ("rest", "charge", "discharge")


# pandas dtypes built on first use, not at import: loading the plugin (a no-op re-run does) builds no frame
# and must not import pandas (foundation/deferred.py)
@functools.cache
def condition_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(CONDITIONS))


@functools.cache
def utc_us() -> pd.DatetimeTZDtype:
    return pd.DatetimeTZDtype("us", "UTC")


def localize_utc(stamps: pd.Series, tz: str | None) -> pd.Series:
    """Vendor wall-clock times (naive = local time of the tester, ``tz``; default UTC) in UTC."""
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(tz or "UTC", ambiguous="NaT", nonexistent="NaT")
    return stamps.dt.tz_convert("UTC")


def start_time(value: datetime | str | None, tz: str | None = None) -> pd.Timestamp | None:
    """A file's start time as a UTC Timestamp (vendor local time taken in ``tz``, default UTC)."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz or "UTC")
    return ts.tz_convert("UTC")


def monotonic_time(raw_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the first record, monotonic; backward jumps of the clock are removed.

    A backward step (a clock resync, a resumed test) is replaced by the median sampling interval so
    the following records keep their spacing; the rows after each jump are flagged.
    """
    t = np.asarray(raw_s, dtype="float64")
    if t.size == 0:
        return t, np.zeros(0, dtype=bool)
    # one output buffer: out[1:] holds the steps, then their running sum (no temporaries per record)
    out = np.empty(t.size, dtype="float64")
    out[0] = 0.0
    dt = np.subtract(t[1:], t[:-1], out=out[1:])
    back = dt < 0
    jump = np.zeros(t.size, dtype=bool)
    if back.any():
        forward = dt[(dt > 0) & np.isfinite(dt)]
        typical = float(np.median(forward)) if forward.size else 0.0
        np.copyto(dt, typical, where=back)
        jump[1:] = back
    np.nan_to_num(dt, copy=False)
    np.cumsum(out, out=out)
    return out, jump


def relative_time(time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """monotonic_time of a relative clock (seconds since its first record). When it never steps back
    and is finite throughout (the usual case) that is t - t0 itself: one pass, no temporaries."""
    t = np.asarray(time_s, dtype="float64")
    if t.size == 0:
        return monotonic_time(t)
    rel = np.subtract(t, t[0])  # contiguous even when t is a strided record-array field
    if not (rel[1:] < rel[:-1]).any() and np.isfinite(rel).all():
        return rel, np.zeros(t.size, dtype=bool)
    return monotonic_time(rel)


def utc_index(stamps_us: np.ndarray) -> pd.DatetimeIndex:
    """int64 microseconds since 1970 (UTC) as a UTC DatetimeIndex without copying them."""
    values = stamps_us.view("datetime64[us]")
    try:
        return pd.DatetimeIndex(pd.arrays.DatetimeArray._simple_new(values, dtype=utc_us()), copy=False)
    except (AttributeError, TypeError):  # private constructor gone in some pandas: the public (copying) path
        return pd.DatetimeIndex(values, dtype=utc_us())


def condition_from_current(current_a: np.ndarray, rest_fraction: float = 1e-3) -> pd.Categorical:
    """rest | charge | discharge from the sign of the current (|I| below a small fraction of max = rest).
    A categorical: three labels for up to millions of records cost one byte each."""
    i = np.asarray(current_a, dtype="float64")
    imax = max(float(np.nanmax(i)), -float(np.nanmin(i))) if i.size and np.isfinite(i).any() else 0.0
    thr = max(rest_fraction * imax, 1e-12)
    code = (i > thr).view(np.int8) + 2 * (i < -thr).view(np.int8)
    # codes are 0..2 by construction: skip pandas' validation pass (a scan per million records)
    return pd.Categorical.from_codes(code, dtype=condition_dtype(), validate=False)


def integrate_charge_ah(time_s: np.ndarray, current_a: np.ndarray) -> np.ndarray:
    """Cumulative net charge (Ah) by the trapezoid rule; zero at the first record."""
    t = np.asarray(time_s, dtype="float64")
    if t.size < 2:
        return np.zeros_like(t)
    i = np.asarray(current_a, dtype="float64")
    if not np.isfinite(i).all():
        i = np.nan_to_num(i)
    # 0.5 * (i[k] + i[k-1]) * dt / 3600, evaluated in place in the output (same rounding, no temporaries)
    out = np.empty(t.size, dtype="float64")
    out[0] = 0.0
    inc = np.add(i[1:], i[:-1], out=out[1:])
    inc *= 0.5
    inc *= np.subtract(t[1:], t[:-1])
    inc /= 3600.0
    np.cumsum(out, out=out)
    return out


def build(
    *,
    reader_label: str,
    time_s: np.ndarray | None,
    current_a: np.ndarray,
    voltage_v: np.ndarray,
    timestamps: pd.Series | None = None,
    wall_clock_s: np.ndarray | None = None,
    start: pd.Timestamp | None = None,
    step: np.ndarray | None = None,
    cycle: np.ndarray | None = None,
    vendor_capacity_ah: np.ndarray | None = None,
    meta: Mapping[str, Any] | None = None,
    mode: str | None = None,
    part: str = "",
    charge_check: Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray] | None = None,
) -> Measurement:
    """Assemble the canonical frame. Give ``time_s`` (relative clock) and/or ``timestamps`` (wall clock).

    With a relative clock, absolute time is ``start + time_s`` (monotonic by construction); with only
    a wall clock, time_s comes from it and backward jumps are removed and flagged. ``charge_check``
    (vendor capacity, integrated charge, meta) -> charge_ah: a reader's check of the integral against the
    vendor's own charge, applied to the arrays before the frame exists (no pandas round trip).
    """
    current = np.asarray(current_a, dtype="float64")
    n = current.size
    if n == 0:
        raise UnreadableFile(f"{reader_label}: the file holds a header but no data records; "
                             "re-export it after the test has logged data")
    voltage = np.asarray(voltage_v, dtype="float64")
    if not np.isfinite(voltage).any():
        raise UnreadableFile(f"{reader_label}: no finite voltage value in {n} records; check the export columns")
    wall = None
    if timestamps is not None:
        wall = timestamps.reset_index(drop=True)
        if wall.isna().all():
            wall = None
    if wall_clock_s is not None and wall is None:
        unix = np.asarray(wall_clock_s, dtype="float64")
        if time_s is None:
            time_s = unix
        start = start if start is not None else pd.Timestamp(round(unix[0] * 1e6), unit="us", tz="UTC")
    if time_s is not None:
        t_rel, jump = relative_time(time_s)
        if wall_clock_s is not None:
            unix = np.asarray(wall_clock_s, dtype="float64")
            jump[1:] |= unix[1:] < unix[:-1]
        if wall is not None:
            wall_s = (wall - wall.iloc[0]).dt.total_seconds().to_numpy()
            jump |= np.concatenate([[False], np.diff(wall_s) < 0])
            if start is None:
                start = wall.iloc[0]
    elif wall is not None:
        raw = (wall - wall.iloc[0]).dt.total_seconds().to_numpy()
        t_rel, jump = monotonic_time(raw)
        start = wall.iloc[0] if start is None else start
    else:
        raise UnreadableFile(f"{reader_label}: the file has neither a test-time nor a date-time column")
    if start is not None:
        start = start.round("us")
        stamps_us = np.empty(n, dtype="int64")
        scratch = stamps_us.view("float64")  # round(t * 1e6) computed in the output's own memory
        np.multiply(t_rel, 1e6, out=scratch)
        np.round(scratch, out=scratch)
        stamps_us[:] = scratch
        stamps_us += start.value // 1000
        ts = utc_index(stamps_us)
    else:
        ts = utc_index(np.full(n, np.iinfo(np.int64).min, dtype="int64"))  # NaT throughout
    info = dict(meta or {})
    charge = integrate_charge_ah(t_rel, current)
    if vendor_capacity_ah is not None:
        vendor_capacity_ah = np.asarray(vendor_capacity_ah, dtype="float64")
        if charge_check is not None:
            charge = charge_check(vendor_capacity_ah, charge, info)
    columns = {
        "record_index": np.arange(n, dtype="int64"),
        "time_s": t_rel,
        "timestamp": ts,
        "current_a": current,
        "voltage_v": voltage,
        "charge_ah": charge,
        "step": _counter(step, n),
        "cycle": _counter(cycle, n),
        "condition": condition_from_current(current),
        "clock_jump": jump,
    }
    if vendor_capacity_ah is not None:
        columns["vendor_capacity_ah"] = vendor_capacity_ah
    frame = _frame(columns, n)
    units = {c: UNITS[c] for c in columns}
    info.setdefault("start_utc", None if start is None else start.isoformat())
    info["clock_jumps"] = int(jump.sum())
    return Measurement(technique="echem", kind=KIND, data=frame, units=units, meta=info, mode=mode, part=part)


_COLUMN_INDEX: dict[tuple[str, ...], pd.Index] = {}


def _frame(columns: dict[str, Any], n: int) -> pd.DataFrame:
    """The columns (all of length n, built above) as a DataFrame without copies or re-validation:
    the per-column checks of pd.DataFrame cost more than the whole frame for a small file."""
    try:
        from pandas.core.internals.construction import arrays_to_mgr

        names = tuple(columns)
        index = _COLUMN_INDEX.get(names)
        if index is None:  # Index objects are immutable: one per column layout (with/without vendor capacity)
            index = _COLUMN_INDEX[names] = pd.Index(list(names))
        mgr = arrays_to_mgr(list(columns.values()), index, pd.RangeIndex(n),
                            verify_integrity=False, consolidate=False, **_mgr_kind(arrays_to_mgr))
        return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)
    except (ImportError, AttributeError, TypeError):  # pandas internals changed: the public constructor
        return pd.DataFrame(columns, copy=False)


@functools.cache
def _mgr_kind(arrays_to_mgr: Any) -> dict[str, str]:
    """pandas 2.x requires typ="block" (it also had an ArrayManager); pandas 3 dropped the argument."""
    return {"typ": "block"} if "typ" in inspect.signature(arrays_to_mgr).parameters else {}


def _counter(values: np.ndarray | None, n: int) -> np.ndarray:
    """Vendor step/cycle numbers as int64, -1 where not logged."""
    if values is None:
        return np.full(n, -1, dtype="int64")
    v = np.asarray(values)
    if v.dtype.kind in "iu":
        return v.astype("int64", copy=False)
    v = v.astype("float64", copy=False)
    finite = np.isfinite(v)
    if finite.all():
        return v.astype("int64")
    return np.where(finite, v, -1).astype("int64")


def sign_from_state(current: np.ndarray, state: np.ndarray, discharge_codes: tuple[str, ...] = ("D",),
                    charge_codes: tuple[str, ...] = ("C",)) -> np.ndarray:
    """Vendors that log |I| plus a state letter: make discharge negative and charge positive."""
    i = np.abs(np.asarray(current, dtype="float64"))
    s = np.asarray(state).astype(str)
    signed = np.where(np.isin(s, discharge_codes), -i, np.where(np.isin(s, charge_codes), i,
                                                                   np.asarray(current, dtype="float64")))
    return signed


def text_lines(head: bytes, n: int = 60) -> list[str]:
    return head.decode("latin-1", errors="replace").splitlines()[:n]


def parse_datetime(values: pd.Series, formats: tuple[str, ...], tz: str | None) -> pd.Series:
    """Parse vendor date-time strings with the first format that fits most values; UTC result."""
    if len(values) <= 2:  # a file's first/last stamp only: no vectorised machinery for two strings
        few = _parse_few(values, formats, tz)
        if few is not None:
            return few
    try:
        s = values.astype(str).str.strip()
    except UnicodeDecodeError:  # raw bytes that are not UTF-8 (a damaged export): unparsable stamps
        s = values.map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).str.strip()
    for fmt in formats:
        out = pd.to_datetime(s, format=fmt, errors="coerce")
        if out.notna().mean() > 0.95:
            return localize_utc(out, tz)
    return localize_utc(pd.to_datetime(s, errors="coerce"), tz)



def _parse_few(values: pd.Series, formats: tuple[str, ...], tz: str | None) -> pd.Series | None:
    """parse_datetime of one or two strings with datetime.strptime (same first-fitting format, same
    localisation: ambiguous or nonexistent local times become NaT); None to leave it to pandas."""
    texts = [str(v).strip() for v in values]
    for fmt in formats:
        try:
            parsed = [datetime.strptime(t, fmt) for t in texts]
        except ValueError:
            continue
        stamps = [pd.Timestamp(p).tz_localize(tz or "UTC", ambiguous="NaT", nonexistent="NaT") for p in parsed]
        utc = [pd.NaT if s is pd.NaT else s.tz_convert("UTC") for s in stamps]
        return pd.Series(utc, index=values.index, dtype=utc_us())
    return None


def pick(columns: list[str], *candidates: str) -> str | None:
    """First vendor column name present (exact match first, then case-insensitive)."""
    for c in candidates:
        if c in columns:
            return c
    lower = {c.lower().strip(): c for c in columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def numeric(frame: Any, column: str | None, divide_by: float | None = None) -> np.ndarray | None:
    """A column as float64 (``frame`` is a DataFrame or a tabular.Columns); text such as decimal
    commas ('3,51') is converted, anything else unparseable becomes NaN. With ``divide_by`` (a unit
    conversion such as mA -> A) the values are divided, in place when the float64 array is our own."""
    if column is None:
        return None
    values = frame.array(column) if hasattr(frame, "array") else frame[column].to_numpy()
    if values.dtype.kind in "fiub":
        out = values.astype("float64", copy=False)
        owned = out is not values and out.flags.owndata
    else:
        series = pd.Series(values)
        if len(series) and isinstance(series.iloc[0], bytes):  # Arrow keeps a non-UTF-8 column as bytes
            series = series.map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
        text = series.astype(str).str.strip().str.replace(",", ".", regex=False)
        out, owned = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64"), False
    if divide_by is None:
        return out
    if owned and out.flags.writeable:
        out /= divide_by
        return out
    return out / divide_by


def counter(frame: Any, column: str | None) -> np.ndarray | None:
    """A step/cycle counter column: integers as they are (no float round trip), else ``numeric``."""
    if column is None:
        return None
    ints = frame.integers(column) if hasattr(frame, "integers") else None
    return ints if ints is not None else numeric(frame, column)
