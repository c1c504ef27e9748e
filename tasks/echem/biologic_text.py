"""BioLogic EC-Lab / BT-Lab text exports: .mpt (with or without header block), BT-Lab .txt, and the
semicolon .csv variant whose time column holds absolute date-times.

Every technique exports the same way (GCPL, CP, CA, OCV, PEIS, GEIS, ZIR, Modulo Bat...): a header of
``Nb header lines : N`` lines whose last one holds the column names, then the records. Which columns
appear depends on the technique and the EC-Lab version (``Ewe/V`` or the averaged ``<Ewe>/V``, old
``<Ewe/V>``, ``I/mA`` or ``<I>/mA``, charge in ``mA.h`` or ``C``), so the column row is found by its
position and each column by its quantity, with the unit read from the name (``biologic_units``).
"""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from foundation.contract import Measurement, Reader, UnreadableFile, quote_names
from tasks.echem import canonical as cn
from tasks.echem import time_columns as tc
from tasks.echem.biologic_units import (
    ChargeCheck,
    column_index,
    find_column,
    reconciled_charge,
    start_offset,
    time_zone,
)
from tasks.echem.tabular import column_names, fixed_datetime_utc, read_delimited

MAGIC = ("EC-Lab ASCII FILE", "BT-Lab ASCII FILE")
LOG_MAGIC = ("EC-Lab LOG FILE", "BT-Lab LOG FILE")
NB_HEADER_RX = re.compile(r"Nb header lines\s*:\s*(\d+)")
START_RX = re.compile(r"Acquisition started on\s*:\s*(\S+)\s+(\S+)")
DATE_FORMATS = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")
#: the header is read up to this size to find the column row (settings tables of long Modulo Bat
#: sequences run to a few hundred lines)
MAX_HEADER_BYTES = 4 << 20
COUNTERS = ("Ns", "cycle number", "half cycle")


def _delimiter(line: str) -> str:
    return ";" if line.count(";") > line.count("\t") else "\t"


def _is_column_row(line: str) -> bool:
    """A column row names a time and a potential column (whatever their spelling and units)."""
    index = column_index(line.split(_delimiter(line)))
    return "time" in index and any(q in index for q in ("Ewe", "Ecell", "<Ewe>", "<Ecell>", "Ewe-Ece", "<Ewe-Ece>"))


def biologic_columns(frame: Any, label: str, absolute_time: bool = False,
                     time_form: str | None = None) -> dict[str, Any]:
    """Canonical arrays from BioLogic column names (shared by the text and the .mpr reader): each
    column found by its quantity, converted to SI by the unit in its name."""
    index = column_index(frame.columns)
    volt = find_column(index, "voltage", label)
    if volt is None:
        raise UnreadableFile(f"{label}: no working-electrode or cell potential column (Ewe, <Ewe>, Ecell, "
                             f"Ewe-Ece) among {quote_names(frame.columns)}; export the potential")
    meta: dict[str, Any] = {"voltage_column": volt[0]}
    t = None
    if not absolute_time:
        tcol = find_column(index, "time", label)
        t = None if tcol is None else tc.elapsed_seconds(frame.array(tcol[0]), column=tcol[0], label=label,
                                                         form=time_form)
        if t is not None and tcol[1] is not None:
            t /= tcol[1]  # a divisor as the other columns use (same rounding as before)
    cur = find_column(index, "current", label)
    dq = find_column(index, "dq", label)
    if cur is not None:
        current = cn.numeric(frame, cur[0], divide_by=cur[1])
        meta["current_column"] = cur[0]
    elif dq is not None and t is not None:
        # some GCPL exports log the charge increment per point but not the current itself
        dq_ah = cn.numeric(frame, dq[0], divide_by=dq[1])
        dt = np.diff(t, prepend=t[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            current = np.where(dt > 0, dq_ah * 3600.0 / dt, 0.0)
        meta["current_source"] = f"{dq[0]} per time step"
    else:
        current = np.zeros(len(frame))
        meta["current_source"] = "none logged (open circuit)"
    step = cn.counter(frame, cn.pick(frame.columns, "Ns"))
    cyc = cn.numeric(frame, cn.pick(frame.columns, "cycle number"))
    if cyc is None and "half cycle" in frame.columns:
        half = cn.counter(frame, "half cycle")
        cyc = half // 2 if half.dtype.kind in "iu" else np.floor(half / 2.0)
    vendor = find_column(index, "vendor_charge", label)
    cap = None if vendor is None else cn.numeric(frame, vendor[0], divide_by=vendor[1])
    return dict(current_a=current, voltage_v=cn.numeric(frame, volt[0], divide_by=volt[1]), step=step, cycle=cyc,
                vendor_capacity_ah=cap, time_s=t, meta=meta,
                charge_check=None if vendor is None else ChargeCheck(vendor[0]))


def wanted_columns(names: list[str]) -> list[str]:
    """The columns a cycler record needs (found by quantity, so every spelling of them counts)."""
    index = column_index(names)
    keep = {col for q, (col, _unit) in index.items() if q in WANTED_QUANTITIES}
    return [n for n in names if n in keep or n in COUNTERS]


WANTED_QUANTITIES = {"time", "Ewe", "Ecell", "<Ewe>", "<Ecell>", "Ewe-Ece", "<Ewe-Ece>", "I", "<I>", "dq", "dQ",
                     "(Q-Qo)", "Q-Qo"}


def acquisition_start(header: list[str], tz: str | None, label: str) -> tuple[pd.Timestamp | None, dict[str, Any]]:
    """'Acquisition started on : 04/01/2016 12:34:56.789' (EC-Lab writes month first, and '.'/'-' as
    date separators in some locales) in UTC; the wall-clock time of time/s = 0."""
    for line in header:
        m = START_RX.search(line)
        if not m:
            continue
        date, clock = re.sub(r"[.\-]", "/", m.group(1)), m.group(2)
        fmt = "%m/%d/%Y %H:%M:%S.%f" if "." in clock else "%m/%d/%Y %H:%M:%S"
        stamp = pd.to_datetime(f"{date} {clock}", format=fmt, errors="coerce")
        if stamp is pd.NaT:
            return None, {"flags": [f"{label}: 'Acquisition started on : {m.group(1)} {m.group(2)}' is not "
                                    "a month-first date; no absolute time"]}
        return cn.start_time(stamp, tz), {}
    if not header:
        return None, {}
    return None, {"flags": [f"{label}: the header has no 'Acquisition started on' line; no absolute time"]}


class BiologicTextReader(Reader):
    name = "biologic-text"
    version = "4"
    techniques = ("echem",)
    suffixes = (".mpt", ".txt", ".csv")
    formats = ("BioLogic EC-Lab / BT-Lab text export (.mpt, .txt, semicolon .csv) of any technique "
               "(GCPL, CP, CA, OCV, PEIS, GEIS, ZIR, Modulo Bat...), with or without header block, "
               "decimal point or comma")
    detects_on = ("first line 'EC-Lab ASCII FILE' / 'BT-Lab ASCII FILE' (or the LOG FILE magic, refused), "
                  "or a first line of column names with a time and a potential column")
    options_doc = {"timezone": "IANA zone of the instrument PC's clock (EC-Lab writes local time without a "
                               "zone); default UTC, recorded as a default in meta['time_zone_source']",
                   tc.OPTION: "time/s: " + tc.OPTION_DOC}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        lines = cn.text_lines(head, 3)
        if not lines:
            return False
        first = lines[0].strip()
        return first.startswith(MAGIC) or first.startswith(LOG_MAGIC) or _is_column_row(lines[0])

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"BioLogic text export {path.name}"
        lines, skip = _header(path, label)
        header = lines[:skip]
        col_line = lines[skip]
        delimiter = _delimiter(col_line)
        if skip + 1 >= len(lines) or not lines[skip + 1].strip():
            raise UnreadableFile(f"{label}: the column names (line {skip + 1}) are not followed by any data row; "
                                 "the export holds no records")
        names = column_names(col_line, lines[skip + 1], delimiter)
        index = column_index(names)
        tcol = index.get("time", (None, None))[0]
        first_time = lines[skip + 1].split(delimiter)[names.index(tcol)] if tcol in names else ""
        absolute = "/" in first_time  # the semicolon export writes date-times in the time/s column
        frame = read_delimited(path, skip_rows=skip + 1, delimiter=delimiter, encoding="latin-1", label=label,
                               names=names, include=wanted_columns(names), strings=[tcol] if absolute else ())
        tz, zone_meta = time_zone(options)
        start, start_meta = acquisition_start(header, tz, label)
        arrays = biologic_columns(frame, label, absolute_time=absolute, time_form=tc.named_form(options, label))
        check = arrays.pop("charge_check")
        timestamps = None
        t = arrays.pop("time_s")
        if absolute:
            timestamps = fixed_datetime_utc(frame.arrow(tcol), "mdy", tz)
            if timestamps is None:
                timestamps = tc.vendor_clock(frame.arrow(tcol), column=tcol, label=label, formats=DATE_FORMATS, tz=tz)
            t = None
        meta = {"software": header[0].strip() if header else "", "header_lines": skip + 1 if header else 0,
                "technique": header[3].strip() if len(header) > 3 else "", **arrays.pop("meta"), **start_meta}
        if start is not None and t is not None:
            start, meta["first_record_s"] = start_offset(start, t)
        if start is not None or timestamps is not None:
            meta.update(zone_meta)
        if not header:
            meta["note"] = "exported without header block: no start time, no settings"
        return cn.build(reader_label=label, time_s=t, timestamps=timestamps, start=start, meta=meta, **arrays,
                        charge_check=None if check is None else partial(reconciled_charge, check))


def _header(path: Path, label: str) -> tuple[list[str], int]:
    """The file's first lines and the index of the column row: line N of an 'Nb header lines : N'
    header, or the first line of an export without header block."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
        lines = cn.text_lines(head, 1 << 30)
        first = lines[0].strip() if lines else ""
        if first.startswith(LOG_MAGIC):
            raise UnreadableFile(f"{label} is a BioLogic log/settings file (.mpl), which holds no data records; "
                                 "ingest the .mpr or its text export instead (exclude *.mpl on the share)")
        if not first.startswith(MAGIC):
            if not lines or not _is_column_row(lines[0]):
                raise UnreadableFile(f"{label}: neither an EC-Lab/BT-Lab header nor a row of column names with "
                                     "time and potential on line 1; export it from EC-Lab as text")
            return lines, 0
        m = NB_HEADER_RX.search(lines[1]) if len(lines) > 1 else None
        if not m:
            raise UnreadableFile(f"{label}: line 2 does not say 'Nb header lines : N'; the header is damaged, "
                                 "re-export the file from EC-Lab")
        skip = int(m.group(1)) - 1
        if skip + 2 > len(lines) and len(head) == 65536:  # a long settings table: read on to the column row
            head += fh.read(MAX_HEADER_BYTES)
            lines = cn.text_lines(head, skip + 2)
    if skip < 2 or skip >= len(lines):
        raise UnreadableFile(f"{label}: the header announces {skip + 1} lines but the file has "
                             f"{len(lines)} lines; the file is truncated (or the header damaged)")
    if len(lines[skip].split(_delimiter(lines[skip]))) < 2:
        raise UnreadableFile(f"{label}: line {skip + 1} should hold the tab-separated column names (header of "
                             f"{skip + 1} lines announced) but holds {lines[skip][:60]!r}; the header is damaged")
    return lines, skip
