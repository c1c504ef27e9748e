"""Scan logs: the CSV a beamline (I11) or a lab operando setup writes beside patterns that carry no time.

Specification (what is accepted; tests build logs from it, "spec-built"):
- UTF-8 text, ``,`` ``;`` or tab separated; ``#`` comment lines before the header. A comment
  ``# timezone: Europe/London`` (or ``time zone``, ``tz``) states the zone of naive times;
- a header row with a scan column (``scan``, ``scan_number``, ``scan no``, ``scan #``, ``scanno``,
  ``run``, ``run number``, ``entry``) and/or a file column (``file``, ``filename``, ``file name``,
  ``pattern``, ``path``), and the start time as one column (``start_time``, ``start``, ``time``,
  ``datetime``, ``timestamp``, ``date_time``) or as ``date`` + ``time`` columns; optional
  ``timezone``/``tz`` column and counting time (``count_time``, ``counting_time_s``, ``exposure``, in s);
- times: ISO 8601 (``2026-05-04T09:00:00``, ``2026-05-04 09:00:00.5``, with ``Z``/``+01:00`` or not),
  ``dd/mm/yyyy HH:MM[:SS]`` or ``mm/dd/yyyy ...`` (the order is taken from values above 12, else from the
  share option ``scan_log_date_order: dmy|mdy``, else refused as ambiguous), ``yyyy/mm/dd HH:MM:SS``,
  ``dd.mm.yyyy HH:MM:SS``, ``04-May-2026 09:00:00``, ``4 May 2026 09:00:00`` and the ctime form
  ``Mon May  4 09:00:00 2026``.
A value that does not parse, a row with neither scan nor file, or a zone that is not an IANA name is
an ``UnreadableFile`` naming the data row (1-based, after the header) and the value.
"""
from __future__ import annotations

import io
import re
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from foundation.contract import UnreadableFile, quote_names
from tasks.sxpd.refinement_reader import _split_comments as split_comments  # the same '#'-comments-then-header layout

ALIASES = {
    "scan_number": ("scan", "scan_number", "scannumber", "scan_no", "scanno", "scan#", "scan_#", "run", "run_number",
                    "runnumber", "run_no", "entry", "scan_id"),
    "file_name": ("file", "filename", "file_name", "pattern", "path", "datafile", "data_file"),
    "start": ("start_time", "start", "starttime", "time", "datetime", "date_time", "timestamp", "start_date_time",
              "time_stamp", "started"),
    "date": ("date", "start_date"),
    "clock": ("clock", "time_of_day", "start_clock"),
    "zone": ("timezone", "time_zone", "tz", "zone"),
    "counting_time_s": ("count_time", "counting_time", "counting_time_s", "count_time_s", "exposure", "exposure_s",
                        "exposure_time", "acq_time"),
}
ZONE_COMMENT = re.compile(r"^#\s*(?:timezone|time[ _]zone|tz)\s*[:=]\s*(\S+)\s*$", re.I)
OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$")
#: candidate forms, tried in order; day-first and month-first slash forms are decided together
FORMS = ("ISO8601", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M", "%d.%m.%Y %H:%M:%S",
         "%d.%m.%Y %H:%M", "%d-%b-%Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%a %b %d %H:%M:%S %Y")
SLASH = {"dmy": ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M"),
         "mdy": ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M")}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().strip('"').lower()).replace("(s)", "").strip("_")


def column_map(header: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in header:
        key = _norm(raw)
        for canonical, names in ALIASES.items():
            if key in names and canonical not in found:
                found[canonical] = raw
                break
    # a lone "time" beside a "date" column is the clock of that date
    if "date" in found and "start" in found and _norm(found["start"]) == "time":
        found["clock"] = found.pop("start")
    return found


def looks_like_log(header: list[str]) -> bool:
    cols = column_map(header)
    timed = "start" in cols or {"date", "clock"} <= set(cols)
    return timed and bool({"scan_number", "file_name"} & set(cols))


def delimiter(line: str) -> str:
    counts = {sep: line.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=counts.get)


def _first_bad(values: pd.Series, parsed: pd.Series) -> tuple[int, str]:
    row = int(np.flatnonzero(parsed.isna().to_numpy() & values.ne("").to_numpy())[0])
    return row, values.iloc[row]


def _slash_order(values: pd.Series, source: str, options: Mapping[str, Any]) -> str:
    """dmy or mdy: from a field above 12, else the share option, else refused (never a guess)."""
    parts = values.str.extract(r"^\s*(\d{1,2})/(\d{1,2})/\d{4}")
    first, second = pd.to_numeric(parts[0]), pd.to_numeric(parts[1])
    if (first > 12).any():
        return "dmy"
    if (second > 12).any():
        return "mdy"
    named = str(options.get("scan_log_date_order", "")).lower()
    if named in SLASH:
        return named
    raise UnreadableFile(f"{source}: the dates ({values.iloc[0]!r}...) may be day/month or month/day; set the "
                         "share's reader_options.scan_log_date_order to dmy or mdy")


def parse_times(values: pd.Series, source: str, label: str, options: Mapping[str, Any]) -> tuple[pd.Series, bool]:
    """Start times → (timestamps, offsets stated). Stated offsets give UTC; naive values stay naive."""
    values = values.fillna("").astype(str).str.strip()
    has_offset = values.str.contains(OFFSET)
    if has_offset.any() and not has_offset.all():
        row = int(np.flatnonzero(~has_offset.to_numpy())[0])
        raise UnreadableFile(f"{source}: row {row + 1}, column {label!r}: {values.iloc[row]!r} has no UTC offset "
                             "while other rows have one; write every time with its offset, or none")
    forms = FORMS
    if values.str.match(r"^\s*\d{1,2}/\d{1,2}/\d{4}").any():
        forms = SLASH[_slash_order(values, source, options)]
    best = None
    for form in forms:
        parsed = pd.to_datetime(values.replace("", None), format=form, errors="coerce", utc=bool(has_offset.all()))
        if not (parsed.isna() & values.ne("")).any():
            return parsed, bool(has_offset.all())
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
    row, value = _first_bad(values, best)
    raise UnreadableFile(f"{source}: row {row + 1}, column {label!r}: {value!r} is not a date-time this reader "
                         "knows (ISO 8601, dd/mm/yyyy HH:MM:SS, ...; see tasks/sxpd/scan_log_parse.py)")


def comment_zone(comments: list[str]) -> str | None:
    for line in comments:
        m = ZONE_COMMENT.match(line)
        if m:
            return m.group(1)
    return None


def check_zone(zone: str, source: str, where: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnreadableFile(f"{source}: {where}: time zone {zone!r} is not an IANA zone name (e.g. Europe/London, "
                             "UTC)") from None
    return zone


def read_table(text: str, source: str) -> tuple[list[str], pd.DataFrame, dict[str, str]]:
    comments, body = split_comments(text)
    if not body.strip():
        raise UnreadableFile(f"{source}: no header row; a scan log needs a scan or file column and a start time")
    header = body.split("\n", 1)[0]
    try:
        frame = pd.read_csv(io.StringIO(body), sep=delimiter(header), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise UnreadableFile(f"{source}: malformed CSV ({exc}); every row needs as many fields as the header") from None
    cols = column_map(list(frame.columns))
    if not looks_like_log(list(frame.columns)):
        raise UnreadableFile(f"{source}: not a scan log: columns {quote_names(frame.columns)} name no scan/file "
                             "column and start time (see tasks/sxpd/scan_log_parse.py for accepted names)")
    if frame.empty:
        raise UnreadableFile(f"{source}: the scan log has a header but no rows")
    return comments, frame, cols
