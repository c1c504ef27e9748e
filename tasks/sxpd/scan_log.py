"""Scan-log reader and pattern-time lookup: times for patterns whose files carry none.

The reader turns a log (format: scan_log_parse.py) into rows of scan number / file name / start time;
``process`` puts them in ``sxpd_scan_log`` with the start in UTC: from the log's own offsets or zone
(comment or column), else the share's ``scan_log_timezone``, else the campaign's ``settings.sxpd.timezone``
— the last two flagged as assumed. Scan logs are processed and committed before any pattern
(``is_scan_log``, the plugin's ``process_first``), so a pattern's ``process`` finds its row.
"""
from __future__ import annotations

import fnmatch
import posixpath
import re
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.sxpd.refinement_reader import _column_map as refinement_columns
from tasks.sxpd.scan_log_parse import (check_zone, comment_zone, delimiter, looks_like_log, parse_times,
                                       read_table, split_comments)

KIND = "scan_log"
#: file names taken for scan logs when the share declares none (``reader_options.scan_log``)
DEFAULT_GLOBS = ("*scan*log*.csv", "*scanlog*.csv", "*scan*log*.txt")
UNITS = {"row_number": "1", "scan_number": "1", "file_name": "", "start_local": "", "start_utc": "",
         "counting_time_s": "s", "time_zone": ""}


def is_scan_log(rel_path: str, options: Mapping[str, Any]) -> bool:
    """Whether a share file is a scan log: the share's ``scan_log`` name or glob(s), else the default globs."""
    declared = options.get("scan_log")
    globs = [declared] if isinstance(declared, str) else list(declared or DEFAULT_GLOBS)
    name = posixpath.basename(rel_path)
    return any(fnmatch.fnmatch(rel_path.lower(), g.lower()) or fnmatch.fnmatch(name.lower(), g.lower()) for g in globs)


def _scan_numbers(frame: pd.DataFrame, cols: dict[str, str], source: str) -> pd.Series:
    if "scan_number" not in cols:
        return pd.Series(pd.NA, index=frame.index, dtype="Int64")
    raw = frame[cols["scan_number"]].str.strip()
    digits = raw.str.extract(r"^\D*(\d+)\s*$")[0]
    bad = raw.ne("") & digits.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise UnreadableFile(f"{source}: row {row + 1}, column {cols['scan_number']!r}: {raw.iloc[row]!r} is not a "
                             "scan number")
    return pd.to_numeric(digits, errors="coerce").astype("Int64")


def _start_values(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.Series, str]:
    if "start" in cols:
        return frame[cols["start"]], cols["start"]
    return frame[cols["date"]].str.strip() + " " + frame[cols["clock"]].str.strip(), f"{cols['date']} + {cols['clock']}"


def _counting(frame: pd.DataFrame, cols: dict[str, str], source: str) -> np.ndarray:
    if "counting_time_s" not in cols:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[cols["counting_time_s"]].str.strip().replace("", None), errors="coerce")
    bad = values.isna() & frame[cols["counting_time_s"]].str.strip().ne("")
    if bad.any() or (values < 0).any():
        row = int(np.flatnonzero((bad | (values < 0)).to_numpy())[0])
        raise UnreadableFile(f"{source}: row {row + 1}, column {cols['counting_time_s']!r}: "
                             f"{frame[cols['counting_time_s']].iloc[row]!r} is not a counting time in s")
    return values.to_numpy(dtype=float)


def _zones(frame: pd.DataFrame, cols: dict[str, str], comments: list[str], source: str) -> pd.Series:
    """The zone each row states (its column, else the log's comment), None where the log says nothing."""
    zone = comment_zone(comments)
    if zone:
        check_zone(zone, source, "comment")
    out = pd.Series(zone, index=frame.index, dtype=object)
    if "zone" in cols:
        for i, value in enumerate(frame[cols["zone"]].str.strip()):
            if value:
                out.iloc[i] = check_zone(value, source, f"row {i + 1}, column {cols['zone']!r}")
    return out


def parse_log(text: str, source: str, options: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    comments, frame, cols = read_table(text, source)
    scans = _scan_numbers(frame, cols, source)
    files = frame[cols["file_name"]].str.strip().replace("", None) if "file_name" in cols else \
        pd.Series(None, index=frame.index, dtype=object)
    empty = scans.isna().to_numpy() & files.isna().to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise UnreadableFile(f"{source}: row {row + 1} names neither a scan number nor a file")
    values, label = _start_values(frame, cols)
    times, stated = parse_times(values, source, label, options)
    missing = times.isna().to_numpy()
    if missing.any():
        raise UnreadableFile(f"{source}: row {int(np.flatnonzero(missing)[0]) + 1} has no start time")
    data = pd.DataFrame({"row_number": np.arange(1, len(frame) + 1, dtype=np.int64), "scan_number": scans,
                         "file_name": files.to_numpy(dtype=object),
                         "start_local": times.dt.tz_localize(None) if stated else times,
                         "start_utc": times if stated else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]"),
                         "counting_time_s": _counting(frame, cols, source),
                         "time_zone": "UTC (offsets in the log)" if stated else _zones(frame, cols, comments, source)})
    if not np.isfinite(data["counting_time_s"]).any():
        data = data.drop(columns="counting_time_s")  # the log has none: the pattern file's counting time is used
    return data, {"comments": "\n".join(comments), "n_rows": len(data), "columns": cols}


class ScanLogReader(Reader):
    name = "sxpd-scan-log"
    version = "1"
    techniques = ("sxpd",)
    suffixes = (".csv", ".txt", ".log")
    formats = ("scan logs (CSV, ',' ';' or tab): scan number and/or file name and start time per pattern, as "
               "I11 and lab operando setups write them")
    detects_on = "a header row naming a scan or file column and a start time (or date + time) column"
    options_doc = {"scan_log": "file name or glob(s) of the share's scan logs (default *scan*log*.csv)",
                   "scan_log_timezone": "IANA zone of naive log times (default: the log's comment, else "
                                        "settings.sxpd.timezone, flagged as assumed)",
                   "scan_log_date_order": "dmy or mdy, for slash dates that do not say"}

    def sniff(self, head: bytes, name: str) -> bool:
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError:
            return False
        _, body = split_comments(text)
        names = body.split("\n", 1)[0].split(delimiter(body.split("\n", 1)[0]))
        # a table of refined cells names patterns and times too: it is the refinement reader's
        return looks_like_log(names) and not {"a_angstrom", "c_angstrom"} <= set(refinement_columns(names))

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        source = Path(path).name
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{source}: not UTF-8 text ({exc}); save the scan log as UTF-8 CSV") from None
        data, meta = parse_log(text, source, options)
        return Measurement(technique="sxpd", kind=KIND, data=data, units=UNITS, meta=meta)


def log_rows(data: pd.DataFrame, options: Mapping[str, Any], settings: Mapping[str, Any]) -> pd.DataFrame:
    """Reader rows → ``sxpd_scan_log`` rows: start in UTC and where its zone came from."""
    fallback = options.get("scan_log_timezone")
    source = "share option scan_log_timezone" if fallback else "assumed: campaign settings.sxpd.timezone"
    fallback = fallback or settings.get("timezone", "Europe/London")
    starts, zones, sources = [], [], []
    for local, utc, zone in zip(data["start_local"], data["start_utc"], data["time_zone"]):
        if not pd.isna(utc):
            starts.append(pd.Timestamp(utc).tz_convert("UTC"))
            zones.append(zone)
            sources.append("stated in the log")
            continue
        name = zone if isinstance(zone, str) and zone else str(fallback)
        starts.append(pd.Timestamp(local).tz_localize(ZoneInfo(name), ambiguous="raise").tz_convert("UTC"))
        zones.append(name)
        sources.append("stated in the log" if name == zone else source)
    return pd.DataFrame({"row_number": data["row_number"].to_numpy(), "scan_number": data["scan_number"],
                         "file_name": data["file_name"].to_numpy(dtype=object), "start_time": pd.DatetimeIndex(starts),
                         "counting_time_s": data.get("counting_time_s", pd.Series(np.nan, index=data.index)).to_numpy(dtype=float),
                         "time_zone": zones, "time_zone_source": sources})


def _stem(name: str) -> str:
    return posixpath.splitext(posixpath.basename(str(name).replace("\\", "/")))[0].lower()


#: a scan number in a file name only where the name says so: leading digits, after a beamline prefix
#: (``i11-``), or after ``scan``; never any run of digits (a date in the name is not a scan)
SCAN_IN_NAME = re.compile(r"^(\d{4,})(?!\d|-\d)|^i\d\d-(\d+)|scan[ _#-]*(\d+)", re.I)


def scan_of(original_name: str | None) -> int | None:
    m = SCAN_IN_NAME.search(posixpath.basename(str(original_name or "").replace("\\", "/")))
    return int(next(g for g in m.groups() if g)) if m else None


def lookup(rows: pd.DataFrame, original_name: str | None, scan_number: int | None, counting_time_s: float
           ) -> tuple[pd.Timestamp | None, list[str]]:
    """(mid-exposure UTC time, flags) of a pattern from scan-log rows; (None, [why]) when no row says."""
    if rows.empty:
        return None, ["pattern time unknown: not in the file and no scan log on the share"]
    by_file = rows[rows["file_name"].notna() & (rows["file_name"].map(_stem) == _stem(original_name or ""))]
    scan = scan_number if scan_number is not None else scan_of(original_name)
    hit = by_file if len(by_file) else rows[rows["scan_number"].notna() & (rows["scan_number"] == scan)] \
        if scan is not None else rows.iloc[:0]
    if hit.empty:
        return None, ["pattern time unknown: not in the file and in no scan-log row (by file name or scan number)"]
    starts = pd.to_datetime(hit["start_time"], utc=True).unique()
    if len(starts) > 1:
        return None, [f"pattern time unknown: scan logs disagree ({len(starts)} different start times)"]
    row = hit.iloc[0]
    count = row["counting_time_s"] if np.isfinite(row["counting_time_s"]) else counting_time_s
    flags = [f"time zone of the scan log {row['time_zone_source']} ({row['time_zone']})"] \
        if str(row["time_zone_source"]).startswith(("assumed", "share")) else []
    return pd.Timestamp(starts[0]) + pd.Timedelta(seconds=float(count or 0.0) / 2.0), flags
