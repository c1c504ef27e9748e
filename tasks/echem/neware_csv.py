"""Neware BTS CSV exports (one record table with Step Type and a cumulative H:MM:SS time)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import header_names, hms_seconds, read_delimited

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
            start = cn.parse_datetime(frame[dcol].iloc[:1], DATE_FORMATS, tz).iloc[0]
        if t is None and stamps is None:
            raise UnreadableFile(f"{label}: neither a Cumulative Time nor a Date column; export them from BTSDA")
        cap = cn.numeric(frame, cn.pick(cols, "Capacity(Ah)"))
        step_type = frame[cn.pick(cols, "Step Type")].astype(str).str.strip()
        if cap is not None:
            # Capacity(Ah) restarts each step and is unsigned: sign it by the step type and accumulate
            signed = np.where(step_type.str.contains("DChg").to_numpy(), -cap, cap)
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
                        meta={"step_types": sorted(step_type.unique().tolist())})
