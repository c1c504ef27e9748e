"""Neware BTS CSV exports (one record table with Step Type and a cumulative H:MM:SS time)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import Columns, header_names, hms_seconds, read_delimited

DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S")


WANTED = {"Current(A)", "Current(mA)", "Voltage(V)", "Voltage(mV)", "Date", "Realtime", "Absolute Time",
          "Cumulative Time", "Total Time", "Capacity(Ah)", "Step Type", "Step Index", "Cycle Index"}


class NewareCsvReader(Reader):
    name = "neware-csv"
    version = "1"
    techniques = ("echem",)
    suffixes = (".csv",)

    def sniff(self, head: bytes, name: str) -> bool:
        line = cn.text_lines(head.lstrip(b"\xef\xbb\xbf"), 1)
        h = line[0] if line else ""
        return "Step Type" in h and ("Voltage(V)" in h or "Voltage(mV)" in h) and ("Current(A)" in h or "Current(mA)" in h)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Neware CSV {path.name}"
        names = header_names(path, 0, ",", "utf-8")
        wanted = [n for n in names if n in WANTED]
        frame = read_delimited(path, skip_rows=0, delimiter=",", encoding="utf-8-sig", label=label, include=wanted,
                               strings=[n for n in wanted if n in ("Cumulative Time", "Total Time", "Date",
                                                                     "Realtime", "Absolute Time", "Step Type")])
        cols = frame.columns
        scale_i = 1.0 if "Current(A)" in cols else 1e-3
        scale_v = 1.0 if "Voltage(V)" in cols else 1e-3
        cur, volt = cn.pick(cols, "Current(A)", "Current(mA)"), cn.pick(cols, "Voltage(V)", "Voltage(mV)")
        tz = options.get("timezone")
        dcol = cn.pick(cols, "Date", "Realtime", "Absolute Time")
        tcol = cn.pick(cols, "Cumulative Time", "Total Time")
        t = hms_seconds(frame.arrow(tcol)) if tcol else None
        if t is not None and np.isnan(t).all():
            t = None
        stamps, start = None, None
        if dcol and t is None:
            stamps = cn.parse_datetime(frame[dcol], DATE_FORMATS, tz)
        elif dcol:  # the cumulative time is the clock; the date only gives the start
            start = cn.parse_datetime(frame.arrow(dcol).slice(0, 1).to_pandas(), DATE_FORMATS, tz).iloc[0]
        if t is None and stamps is None:
            raise UnreadableFile(f"{label}: neither a Cumulative Time nor a Date column; export them from BTSDA")
        cap = cn.numeric(frame, cn.pick(cols, "Capacity(Ah)"))
        discharge, step_types = _step_types(frame, cn.pick(cols, "Step Type"))
        if cap is not None:
            # Capacity(Ah) restarts each step and is unsigned: sign it by the step type and accumulate
            signed = np.where(discharge, -cap, cap)
            step = cn.numeric(frame, cn.pick(cols, "Step Index"))
            change = np.r_[True, np.diff(step) != 0]
            seg = np.cumsum(change) - 1
            ends = np.r_[np.flatnonzero(change[1:]), len(signed) - 1]
            carried = np.r_[0.0, np.cumsum(signed[ends])[:-1]]
            cap = carried[seg] + signed
        return cn.build(reader_label=label, time_s=t, timestamps=stamps, start=start,
                        current_a=cn.numeric(frame, cur) * scale_i, voltage_v=cn.numeric(frame, volt) * scale_v,
                        step=cn.numeric(frame, cn.pick(cols, "Step Index")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cycle Index")), vendor_capacity_ah=cap,
                        meta={"step_types": step_types})


def _step_types(frame: Columns, column: str) -> tuple[np.ndarray, list[str]]:
    """Which records are discharge steps ('CC DChg', 'CCCV DChg', ...), and the step types present;
    in Arrow kernels (the text column never becomes Python strings) unless values are missing."""
    col = frame.arrow(column)
    if col.null_count == 0 and pa.types.is_string(col.type):
        names = pc.utf8_trim_whitespace(col)
        return (pc.match_substring(names, "DChg").to_numpy(zero_copy_only=False),
                sorted(pc.unique(names).to_pylist()))
    step_type = frame[column].astype(str).str.strip()
    return step_type.str.contains("DChg").to_numpy(), sorted(step_type.unique().tolist())
