"""Neware BTS CSV exports, both layouts BTSDA writes:

- the flat record table (one header row with Step Type, a cumulative H:MM:SS time, Date);
- the three-level "regular" export: a cycle row (``Cycle Index,Chg. Cap.(Ah),...``), under it step
  rows (``,Step Index,Step Number,Step Type,...``) and under each step its records
  (``,,DataPoint,Time,Total Time,Current(A),Voltage(V),...``). Each record gets its step's index and
  type and its cycle's index.

Units come from the column names' suffix (``Current(µA)``, ``Voltage(mV)``, ``Capacity(mAh)``)
through the conversion table in ``tasks.echem.vendor``; an unknown unit is refused by name.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem import time_columns as tc
from tasks.echem.tabular import Columns, header_names, read_delimited
from tasks.echem.vendor import (
    find_quantity,
    require,
    split_unit,
    timezone_of,
    unit_factor,
)

DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S")
TIME_NAMES = ("Cumulative Time", "Total Time")
DATE_NAMES = ("Date", "Realtime", "Absolute Time")
#: base names (unit suffix removed, lower case) of the columns the record needs
WANTED = {n.lower() for n in ("Current", "Voltage", "Capacity", "Step Type", "Step Index", "Cycle Index",
                              *TIME_NAMES, *DATE_NAMES)}
TEXT = {n.lower() for n in (*TIME_NAMES, *DATE_NAMES, "Step Type")}
REGULAR_CYCLE_ROW = "Cycle Index,"


def _first_lines(head: bytes, n: int) -> list[str]:
    return cn.text_lines(head.lstrip(b"\xef\xbb\xbf"), n)


def is_regular_export(lines: list[str]) -> bool:
    """Cycle row, then a step row and a record row, each shifted one field right."""
    return (len(lines) >= 3 and lines[0].startswith(REGULAR_CYCLE_ROW) and lines[1].startswith(",Step Index")
            and lines[2].startswith(",,") and "Voltage" in lines[2] and "Current" in lines[2])


def _has(line: str, quantity: str) -> bool:
    return any(split_unit(c)[0] == quantity for c in line.split(","))


class NewareCsvReader(Reader):
    name = "neware-csv"
    version = "4"
    techniques = ("echem",)
    suffixes = (".csv",)
    formats = ("Neware BTSDA CSV: flat record export (Step Type, Cumulative/Total Time, Date) and the "
               "three-level cycle/step/record 'regular' export; current/voltage/capacity in any unit the "
               "header names (A, mA, µA; V, mV; Ah, mAh)")
    detects_on = ("first line with Step Type, Voltage(<unit>) and Current(<unit>); or the three-level layout: "
                  "'Cycle Index,' then ',Step Index' then ',,' record header")
    options_doc = {"timezone": "IANA zone of the tester's clock (naive Date column); default UTC, recorded in meta",
                   tc.OPTION: "Total/Cumulative Time: " + tc.OPTION_DOC}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        lines = _first_lines(head, 3)
        if is_regular_export(lines):
            return True
        h = lines[0] if lines else ""
        return "Step Type" in h and _has(h, "Voltage") and _has(h, "Current")

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Neware CSV {path.name}"
        with open(path, "rb") as fh:
            regular = is_regular_export(_first_lines(fh.read(65536), 3))
        if regular:
            frame, per_record = read_regular(path, label)
        else:
            names = header_names(path, 0, ",", "utf-8")
            wanted = [n for n in names if split_unit(n)[0].lower() in WANTED]
            frame = read_delimited(path, skip_rows=0, delimiter=",", encoding="utf-8-sig", label=label,
                                   include=wanted, strings=[n for n in wanted if split_unit(n)[0].lower() in TEXT])
            per_record = {}
        return build_record(frame, per_record, label, options, layout="regular (cycle/step/record)" if regular
                            else "flat record table")


def build_record(frame: Columns, per_record: dict[str, np.ndarray], label: str, options: Mapping[str, Any],
                 layout: str) -> Measurement:
    cols = frame.columns
    cur, volt = find_quantity(cols, "Current"), find_quantity(cols, "Voltage")
    tcol, dcol = cn.pick(cols, *TIME_NAMES), cn.pick(cols, *DATE_NAMES)
    require({"Current(<unit>)": cur, "Voltage(<unit>)": volt, "time (Total/Cumulative Time or Date)": tcol or dcol},
            cols, label)
    uneven = {k: len(per_record[k]) for k in ("step", "cycle", "discharge")
              if k in per_record and len(per_record[k]) != len(frame)}
    if uneven:  # the step rows name fewer (or more) records than the record rows hold
        raise UnreadableFile(f"{label}: {len(frame)} record rows but the step rows account for "
                             f"{next(iter(uneven.values()))}; the nested export is damaged or truncated")
    tz, meta = timezone_of(options)
    meta["layout"] = layout
    t = tc.elapsed_seconds(frame.arrow(tcol), column=tcol, label=label,
                           form=tc.named_form(options, label)) if tcol else None
    stamps, start = None, None
    clock = {"column": dcol, "label": label, "formats": DATE_FORMATS, "tz": tz}
    if dcol and t is None:
        stamps = tc.vendor_clock(frame.arrow(dcol), **clock)
    elif dcol:  # the cumulative time is the clock; the date only gives the start
        start = tc.vendor_clock(frame.arrow(dcol).slice(0, 1), **clock).iloc[0]
    if t is None and stamps is None:
        raise UnreadableFile(f"{label}: neither a Cumulative Time nor a Date column; export them from BTSDA")
    step = per_record.get("step")
    if step is None:
        step = cn.numeric(frame, cn.pick(cols, "Step Index"))
    type_col = cn.pick(cols, "Step Type")
    if "step_type" in per_record:
        discharge, meta["step_types"] = per_record["discharge"], per_record["step_type"]
    elif type_col is not None:
        discharge, meta["step_types"] = _step_types(frame, type_col)
    else:
        discharge = None
    cap_col = find_quantity(cols, "Capacity")
    cap = None
    if cap_col is not None and discharge is not None and step is not None:
        cap = _net_capacity(cn.numeric(frame, cap_col) * unit_factor(cap_col, "capacity", label), discharge, step)
    cycle = per_record.get("cycle")
    return cn.build(reader_label=label, time_s=t, timestamps=stamps, start=start,
                    current_a=cn.numeric(frame, cur) * unit_factor(cur, "current", label),
                    voltage_v=cn.numeric(frame, volt) * unit_factor(volt, "voltage", label), step=step,
                    cycle=cycle if cycle is not None else cn.numeric(frame, cn.pick(cols, "Cycle Index")),
                    vendor_capacity_ah=cap, meta=meta)


def _net_capacity(cap: np.ndarray, discharge: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Capacity restarts each step and is unsigned: sign it by the step type and accumulate."""
    signed = np.where(discharge, -cap, cap)
    change = np.r_[True, np.diff(step) != 0]
    seg = np.cumsum(change) - 1
    ends = np.r_[np.flatnonzero(change[1:]), len(signed) - 1]
    carried = np.r_[0.0, np.cumsum(signed[ends])[:-1]]
    return carried[seg] + signed


def _step_types(frame: Columns, column: str) -> tuple[np.ndarray, list[str]]:
    """Which records are discharge steps ('CC DChg', 'CCCV DChg', ...), and the step types present;
    in Arrow kernels (the text column never becomes Python strings) unless values are missing."""
    import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
    col = frame.arrow(column)
    if col.null_count == 0 and pa.types.is_string(col.type):
        names = pc.utf8_trim_whitespace(col)
        return (pc.match_substring(names, "DChg").to_numpy(zero_copy_only=False),
                sorted(pc.unique(names).to_pylist()))
    step_type = frame[column].astype(str).str.strip()
    return step_type.str.contains("DChg").to_numpy(), sorted(step_type.unique().tolist())


def read_regular(path: Path, label: str) -> tuple[Columns, dict[str, Any]]:
    """The records of a three-level export as a table, plus each record's step index, step type and
    cycle index taken from the step and cycle rows above it."""
    lines = path.read_bytes().lstrip(b"\xef\xbb\xbf").decode("utf-8", errors="replace").splitlines()
    n_cycle, step_header = len(lines[0].split(",")), lines[1].split(",")
    record_header = [n.strip() for n in lines[2].split(",")[2:]]
    try:
        i_step, i_type = step_header.index("Step Index"), step_header.index("Step Type")
    except ValueError:
        raise UnreadableFile(f"{label}: the step row header {step_header[:6]} lacks Step Index / Step Type") from None
    records: list[str] = []
    steps, types, cycles = [], [], []
    step, kind, cycle = -1, "", -1
    for n, line in enumerate(lines[3:], start=4):
        if line.startswith(",,"):
            records.append(line[2:])
            steps.append(step)
            types.append(kind)
            cycles.append(cycle)
        elif line.strip():
            fields = line.split(",")
            if not line.startswith(","):
                cycle = _int(fields[0], label, n)
                if len(fields) <= n_cycle:
                    continue
                # BTSDA may write a cycle's first step row on the cycle row itself, after the cycle fields
                fields = [""] + fields[n_cycle:]
            if len(fields) <= max(i_step, i_type):
                raise UnreadableFile(f"{label}: step row at line {n} has {len(fields)} fields; the export is damaged")
            step, kind = _int(fields[i_step], label, n), fields[i_type].strip()
    if not records:
        raise UnreadableFile(f"{label}: a cycle/step summary without record rows; export with 'record' level data")
    body = io.BytesIO("\n".join(records).encode("utf-8"))
    wanted = [n for n in record_header if split_unit(n)[0].lower() in WANTED]
    frame = read_delimited(body, skip_rows=0, delimiter=",", label=label, names=record_header, include=wanted,
                           strings=[n for n in wanted if split_unit(n)[0].lower() in TEXT])
    type_arr = np.asarray(types)
    return frame, {"step": np.asarray(steps, dtype="int64"), "cycle": np.asarray(cycles, dtype="int64"),
                   "discharge": np.char.find(type_arr.astype(str), "DChg") >= 0,
                   "step_type": sorted(set(types))}


def _int(text: str, label: str, line: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UnreadableFile(f"{label}: line {line}: index {text.strip()!r} is not an integer; "
                             "the export is damaged") from None
