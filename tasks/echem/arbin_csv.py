"""Arbin MITS Pro CSV exports (underscore names with Unix DateTime, or unit-suffixed names)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import header_names, read_delimited

WANTED = {"Test_Time", "Test Time (s)", "Test_Time(s)", "Current", "Current (A)", "Current(A)", "Voltage", "Voltage (V)",
          "Voltage(V)", "DateTime", "Date Time", "Date_Time", "Charge_Capacity", "Charge Capacity (Ah)",
          "Discharge_Capacity", "Discharge Capacity (Ah)", "Step_Index", "Step Index", "Cycle_Index", "Cycle Index"}
DATE_FORMATS = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S")


def _header(head: bytes) -> str:
    lines = cn.text_lines(head.lstrip(b"\xef\xbb\xbf"), 1)
    return lines[0] if lines else ""


class ArbinCsvReader(Reader):
    name = "arbin-csv"
    version = "1"
    techniques = ("echem",)
    suffixes = (".csv",)

    def sniff(self, head: bytes, name: str) -> bool:
        h = _header(head)
        data = ("Data_Point" in h or "Data Point" in h) and ("Test_Time" in h or "Test Time" in h)
        sidecar = "Test_ID" in h and "Schedule_File_Name" in h and "IV_Ch_ID" in h
        return data or sidecar

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Arbin CSV {path.name}"
        with open(path, "rb") as fh:
            header = _header(fh.read(65536))
        if "Schedule_File_Name" in header and "Data_Point" not in header:
            raise UnreadableFile(f"{label} is the metadata sidecar of an Arbin CSV export (test id, schedule, "
                                 "start time) and holds no records; ingest the data CSV next to it")
        names = header_names(path, 0, ",", "utf-8")
        wanted = [n for n in names if n in WANTED]
        frame = read_delimited(path, skip_rows=0, delimiter=",", encoding="utf-8-sig", label=label, include=wanted,
                               strings=[n for n in wanted if n in ("Date Time", "Date_Time")])
        cols = frame.columns
        time_col = cn.pick(cols, "Test_Time", "Test Time (s)", "Test_Time(s)")
        cur = cn.pick(cols, "Current", "Current (A)", "Current(A)")
        volt = cn.pick(cols, "Voltage", "Voltage (V)", "Voltage(V)")
        if cur is None or volt is None:
            raise UnreadableFile(f"{label}: no current/voltage columns among {cols}; export Current and Voltage")
        tz = options.get("timezone")
        dt_col = cn.pick(cols, "DateTime", "Date Time", "Date_Time")
        stamps, start, unix = None, None, None
        t = cn.numeric(frame, time_col)
        if dt_col is not None:
            raw = frame.array(dt_col)
            if raw.dtype.kind in "fi":  # MITS Pro writes Unix seconds in the underscore variant
                unix = raw
            else:  # Test Time is the clock; the text date only gives the start
                start = cn.parse_datetime(pd.Series(raw[:1]), DATE_FORMATS, tz).iloc[0]
                if t is None:
                    stamps = cn.parse_datetime(pd.Series(raw), DATE_FORMATS, tz)
        charge = cn.numeric(frame, cn.pick(cols, "Charge_Capacity", "Charge Capacity (Ah)"))
        discharge = cn.numeric(frame, cn.pick(cols, "Discharge_Capacity", "Discharge Capacity (Ah)"))
        vendor = None if charge is None or discharge is None else charge - discharge
        return cn.build(reader_label=label, time_s=t, timestamps=stamps, wall_clock_s=unix, start=start,
                        current_a=cn.numeric(frame, cur), voltage_v=cn.numeric(frame, volt),
                        step=cn.numeric(frame, cn.pick(cols, "Step_Index", "Step Index")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cycle_Index", "Cycle Index")),
                        vendor_capacity_ah=vendor, meta={"columns": cols})
