"""Any delimited cycler export, mapped to canonical columns by the share's ``reader_options``:

    reader_options:
      columns: {time_s: "Test Time (s)", current_a: "I (mA)", voltage_v: "E (V)", timestamp: "Date"}
      # or a time column with its form named: time_s: {column: "Elapsed", form: "d-hh:mm:ss"}
      time_form: duration                 # the time column's form when its values do not say
      scale: {current_a: 0.001}          # vendor unit -> canonical unit
      delimiter: ","   skip_rows: 0   timezone: Europe/Berlin

Without a mapping it reads files whose header already uses the canonical names (time_s, current_a,
voltage_v), e.g. re-imported platform exports, and cellpy's "custom instrument" example layout
(``# PRIME INSTRUMENT FILE`` sections, ``number of headers ;N``, ``;``-separated columns named
test_time, current, voltage, ...). That layout states no units: they are taken as cellpy's raw units
(s, A, V, Ah) unless ``scale`` says otherwise, and meta says they were assumed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem import time_columns as tc
from tasks.echem.tabular import read_delimited
from tasks.echem.vendor import timezone_of

CANONICAL = ("time_s", "current_a", "voltage_v")
PRIME_MARK = "# PRIME INSTRUMENT FILE"
PRIME_COLUMNS = {"time_s": "test_time", "current_a": "current", "voltage_v": "voltage", "step": "step",
                 "cycle": "cycle"}
EXCEL_EPOCH = "1899-12-30"  # a pd.Timestamp at use: importing the reader imports no pandas


class GenericCsvReader(Reader):
    name = "generic-csv"
    version = "3"
    techniques = ("echem",)
    suffixes = (".csv", ".txt", ".tsv")
    formats = ("any delimited cycler table mapped by reader_options.columns; files already in canonical "
               "column names; cellpy's custom-instrument example layout ('# PRIME INSTRUMENT FILE')")
    detects_on = "a first line naming time_s, current_a and voltage_v, or starting '# PRIME INSTRUMENT FILE'"
    options_doc = {"columns": "canonical name -> file column (time_s or timestamp, current_a, voltage_v; "
                              "optional step, cycle, vendor_capacity_ah); a time column may be given as "
                              "{column: <name>, form: <time_form>}",
                   tc.OPTION: "time_s/timestamp column: " + tc.OPTION_DOC,
                   "scale": "canonical name -> factor from the file's unit to the canonical unit",
                   "delimiter": "field separator (default ',')", "skip_rows": "lines before the column row",
                   "encoding": "text encoding (default utf8)", "date_formats": "strptime formats of timestamp",
                   "timezone": "IANA zone of naive timestamps; default UTC, recorded in meta"}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        lines = cn.text_lines(head, 1)
        return bool(lines) and (lines[0].startswith(PRIME_MARK) or all(c in lines[0] for c in CANONICAL))

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"CSV {path.name}"
        with open(path, "rb") as fh:
            head = cn.text_lines(fh.read(65536), 200)
        if head and head[0].startswith(PRIME_MARK) and not options.get("columns"):
            return read_prime(path, head, options, label)
        mapping, forms = split_forms(options.get("columns") or {c: c for c in CANONICAL}, options, label)
        missing = [c for c in ("current_a", "voltage_v") if c not in mapping]
        if missing or ("time_s" not in mapping and "timestamp" not in mapping):
            raise UnreadableFile(f"{label}: reader_options.columns must map time_s (or timestamp), current_a and "
                                 f"voltage_v to the file's column names; missing {missing or ['time_s']}")
        frame = read_delimited(path, skip_rows=int(options.get("skip_rows", 0)),
                               delimiter=str(options.get("delimiter", ",")),
                               encoding=str(options.get("encoding", "utf8")), label=label,
                               strings=[mapping[k] for k in ("time_s", "timestamp") if k in mapping])
        absent = [v for v in mapping.values() if v not in frame.columns]
        if absent:
            raise UnreadableFile(f"{label}: mapped columns {absent} are not in the file (it has "
                                 f"{list(frame.columns)[:15]}); fix reader_options.columns in the share config")
        scale = {k: float(v) for k, v in (options.get("scale") or {}).items()}

        def col(key: str):
            if key not in mapping:
                return None
            return cn.numeric(frame, mapping[key]) * scale.get(key, 1.0)

        tz, meta = timezone_of(options)
        meta["mapping"] = mapping
        t, stamps = time_axis(frame, mapping, forms, scale.get("time_s", 1.0), tz,
                              tuple(options.get("date_formats", ())), label, meta)
        return cn.build(reader_label=label, time_s=t, timestamps=stamps, current_a=col("current_a"),
                        voltage_v=col("voltage_v"), step=col("step"), cycle=col("cycle"),
                        vendor_capacity_ah=col("vendor_capacity_ah"), meta=meta)


def split_forms(columns: Mapping[str, Any], options: Mapping[str, Any], label: str
                ) -> tuple[dict[str, str], dict[str, str | None]]:
    """The column map as canonical -> file column, and the time form each time column names
    ({column, form} entries; else the share's time_form; else None: detected from the values)."""
    mapping, forms = {}, {}
    default = tc.named_form(options, label)
    for key, value in columns.items():
        if isinstance(value, Mapping):
            if "column" not in value:
                raise UnreadableFile(f"{label}: reader_options.columns.{key} = {dict(value)} lacks 'column' "
                                     "(write {column: <file column>, form: <time form>})")
            mapping[key] = str(value["column"])
            forms[key] = tc.named_form({tc.OPTION: value.get("form")}, label) or default
        else:
            mapping[key], forms[key] = str(value), default
    return mapping, forms


def time_axis(frame: Any, mapping: dict[str, str], forms: dict[str, str | None], scale: float, tz: str | None,
              date_formats: tuple[str, ...], label: str, meta: dict) -> tuple[Any, Any]:
    """(elapsed seconds, wall-clock stamps) from the mapped time_s and timestamp columns; a time_s
    column that holds date-times (ISO, Excel days) is the wall clock."""
    t, stamps = None, None
    if "time_s" in mapping:
        name = mapping["time_s"]
        form = forms["time_s"] or tc.detect_form(frame.arrow(name), name, label)
        meta["time_form"] = form
        if form in tc.WALL_FORMS:
            stamps = tc.wall_clock(frame.arrow(name), column=name, label=label, form=form, tz=tz)
        else:
            t = tc.elapsed_seconds(frame.arrow(name), column=name, label=label, form=form, scale=scale)
    if "timestamp" in mapping and stamps is None:
        name = mapping["timestamp"]
        stamps = tc.wall_clock(frame.arrow(name), column=name, label=label, form=forms["timestamp"], tz=tz,
                               formats=date_formats)
    return t, stamps


def read_prime(path: Path, head: list[str], options: Mapping[str, Any], label: str) -> Measurement:
    """cellpy's custom-instrument example: the head section says how many lines precede the column row."""
    m = next((re.match(r"number of headers\s*;\s*(\d+)", ln) for ln in head
              if ln.startswith("number of headers")), None)
    if m is None:
        raise UnreadableFile(f"{label}: a '# PRIME INSTRUMENT FILE' without the 'number of headers ;N' line that "
                             "says where the column row is; map the columns with reader_options instead")
    skip = int(m.group(1))
    frame = read_delimited(path, skip_rows=skip, delimiter=";", encoding="latin-1", label=label)
    lower = {c.lower(): c for c in frame.columns}
    found = {k: lower.get(v) for k, v in PRIME_COLUMNS.items()}
    missing = [PRIME_COLUMNS[k] for k in CANONICAL if found[k] is None]
    if missing:
        raise UnreadableFile(f"{label}: the column row after {skip} header lines lacks {missing} "
                             f"(it has {list(frame.columns)}); map the columns with reader_options.columns")
    scale = {k: float(v) for k, v in (options.get("scale") or {}).items()}
    keep = np.isfinite(cn.numeric(frame, found["voltage_v"]))  # trailing ';;;;' rows: no record
    tz, meta = timezone_of(options)
    meta.update(layout="cellpy custom instrument (# PRIME INSTRUMENT FILE)", header_lines=skip,
                units_assumed={k: "from reader_options.scale" if k in scale else u for k, u in
                               (("time_s", "s"), ("current_a", "A"), ("voltage_v", "V"), ("vendor_capacity_ah", "Ah"))})

    def col(key: str, name: str | None = None):
        name = name or found.get(key)
        return None if name is None else cn.numeric(frame, name)[keep] * scale.get(key, 1.0)

    charge, discharge = col("vendor_capacity_ah", lower.get("charge_capacity")), col(
        "vendor_capacity_ah", lower.get("discharge_capacity"))
    start = None
    if "date_stamp" in lower:  # Excel serial days, written with few decimals: its resolution goes to meta
        days = cn.numeric(frame, lower["date_stamp"])[keep]
        days = days[np.isfinite(days)]  # a damaged stamp is no start time
        start = cn.start_time(pd.Timestamp(EXCEL_EPOCH) + pd.Timedelta(days=float(days[0])), tz) if days.size else None
        steps = np.diff(np.unique(days))
        meta["start_resolution_s"] = round(float(steps.min()) * 86400.0, 3) if steps.size else None
    t = tc.elapsed_seconds(frame.arrow(found["time_s"]).filter(pa.array(keep)), column=found["time_s"],
                           label=label, form=tc.named_form(options, label), scale=scale.get("time_s", 1.0))
    return cn.build(reader_label=label, time_s=t, start=start, current_a=col("current_a"),
                    voltage_v=col("voltage_v"), step=col("step"), cycle=col("cycle"),
                    vendor_capacity_ah=None if charge is None or discharge is None else charge - discharge, meta=meta)
