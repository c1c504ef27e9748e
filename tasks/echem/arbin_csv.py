"""Arbin MITS Pro CSV exports (underscore names with Unix DateTime, or unit-suffixed names)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem import time_columns as tc
from tasks.echem.tabular import header_names, read_delimited
from tasks.echem.vendor import (
    find_quantity,
    require,
    split_unit,
    timezone_of,
    unit_factor,
)

#: base names (unit suffix removed, spaces as underscores, lower case) of the columns the record needs
WANTED = {"test_time", "current", "voltage", "datetime", "date_time", "charge_capacity", "discharge_capacity",
          "step_index", "cycle_index"}
DATE_FORMATS = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S")


def _header(head: bytes) -> str:
    lines = cn.text_lines(head.lstrip(b"\xef\xbb\xbf"), 1)
    return lines[0] if lines else ""


class ArbinCsvReader(Reader):
    name = "arbin-csv"
    version = "4"
    techniques = ("echem",)
    suffixes = (".csv",)
    formats = ("Arbin MITS Pro CSV exports (underscore names with Unix DateTime, or unit-suffixed names); "
               "recognises and refuses the _Metadata.csv sidecar")
    detects_on = "first line with Data_Point/Data Point and Test_Time/Test Time (or the sidecar's Test_ID, IV_Ch_ID)"
    options_doc = {"timezone": "IANA zone of a text Date Time column; default UTC, recorded in meta",
                   tc.OPTION: "Test Time: " + tc.OPTION_DOC}
    extra = ""

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
        wanted = [n for n in names if split_unit(n)[0].replace(" ", "_").lower() in WANTED]
        frame = read_delimited(path, skip_rows=0, delimiter=",", encoding="utf-8-sig", label=label, include=wanted,
                               strings=[n for n in wanted if n in ("Date Time", "Date_Time")])
        cols = frame.columns
        time_col = find_quantity(cols, "Test_Time", "Test Time")
        cur, volt = find_quantity(cols, "Current"), find_quantity(cols, "Voltage")
        dt_col = cn.pick(cols, "DateTime", "Date Time", "Date_Time")
        require({"Current": cur, "Voltage": volt, "Test_Time or Date_Time": time_col or dt_col}, names, label)
        tz, meta = timezone_of(options)
        meta["columns"] = cols
        stamps, start, unix = None, None, None
        t = None if time_col is None else tc.elapsed_seconds(
            frame.arrow(time_col), column=time_col, label=label, form=tc.named_form(options, label),
            scale=unit_factor(time_col, "time", label, "s"))
        if dt_col is not None:
            raw = frame.array(dt_col)
            if raw.dtype.kind in "fi":  # MITS Pro writes Unix seconds in the underscore variant
                unix = raw
                meta.update(timezone="UTC", timezone_source="file: DateTime in Unix seconds")
            else:  # Test Time is the clock; the text date only gives the start
                clock = {"column": dt_col, "label": label, "formats": DATE_FORMATS, "tz": tz}
                start = tc.vendor_clock(raw[:1], **clock).iloc[0]
                if t is None:
                    stamps = tc.vendor_clock(raw, **clock)
        charge = _si(frame, find_quantity(cols, "Charge_Capacity", "Charge Capacity"), "capacity", "Ah", label)
        discharge = _si(frame, find_quantity(cols, "Discharge_Capacity", "Discharge Capacity"), "capacity", "Ah", label)
        vendor = None if charge is None or discharge is None else charge - discharge
        return cn.build(reader_label=label, time_s=t, timestamps=stamps, wall_clock_s=unix, start=start,
                        current_a=_si(frame, cur, "current", "A", label),
                        voltage_v=_si(frame, volt, "voltage", "V", label),
                        step=cn.numeric(frame, cn.pick(cols, "Step_Index", "Step Index")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cycle_Index", "Cycle Index")),
                        vendor_capacity_ah=vendor, meta=meta)


def _si(frame, column: str | None, quantity: str, default: str, label: str):
    """A column in SI by its unit suffix ('Current (mA)'); the underscore names carry none (A, V, Ah)."""
    if column is None:
        return None
    factor = unit_factor(column, quantity, label, default)
    values = cn.numeric(frame, column)
    return values if factor == 1.0 else values * factor
