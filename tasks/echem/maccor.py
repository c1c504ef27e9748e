"""Maccor text exports: the classic tab export (``Today's Date`` line), the older variant with
``0d 00:00:00.0000`` test times, the MIMS export with a key/value header (non-UTF-8 bytes, test time
in minutes) and the comma CSV variant."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import column_names, read_delimited

DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%d-%b-%y %I:%M:%S %p", "%m/%d/%Y %H:%M")
REC_NAMES = ("Rec#", "Rec")
VOLT_NAMES = ("Volts", "Voltage", "Voltage [V]")
WANTED = {"Volts", "Voltage", "Voltage [V]", "Amps", "Current", "Current [A]", "State", "Md", "DPt Time", "DPT Time",
          "Test (Sec)", "Test Time (sec)", "TestTime", "Test Time", "Amp-hr", "Cap. [Ah]", "Capacity", "Step", "Cyc#",
          "Cycle C", "Cycle P"}
MARKERS = ("Today's Date", "Maccor", "DPt Time", "DPT Time")


def _split(line: str) -> list[str]:
    sep = "\t" if line.count("\t") >= line.count(",") else ","
    return [t.strip() for t in line.split(sep)]


def find_header(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        tokens = _split(line)
        if any(t in REC_NAMES for t in tokens[:2]) and any(t in VOLT_NAMES for t in tokens):
            return i
    return None


def elapsed_s(values: pd.Series) -> np.ndarray:
    """Seconds from '  1d 02:03:04.5000' strings (the older Maccor export)."""
    parts = values.astype(str).str.extract(r"(?:(\d+)d\s+)?(\d+):(\d+):([\d.]+)")
    nums = parts.apply(pd.to_numeric, errors="coerce").fillna({0: 0}).to_numpy("float64")
    return nums[:, 0] * 86400 + nums[:, 1] * 3600 + nums[:, 2] * 60 + nums[:, 3]


class MaccorReader(Reader):
    name = "maccor-text"
    version = "1"
    techniques = ("echem",)
    suffixes = (".txt", ".csv", ".034", ".052", ".041", ".001")

    def sniff(self, head: bytes, name: str) -> bool:
        lines = cn.text_lines(head, 40)
        text = "\n".join(lines)
        return find_header(lines) is not None and any(m in text for m in MARKERS)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Maccor export {path.name}"
        with open(path, "rb") as fh:
            lines = cn.text_lines(fh.read(65536), 60)
        h = find_header(lines)
        if h is None:
            raise UnreadableFile(f"{label}: no column row with Rec and Volts in the first lines; not a Maccor export")
        delimiter = "\t" if lines[h].count("\t") >= lines[h].count(",") else ","
        first_data = next((ln for ln in lines[h + 1:] if ln.strip()), None)
        if first_data is None:
            raise UnreadableFile(f"{label}: the column row is not followed by any record")
        names = column_names(lines[h], first_data, delimiter)
        text_cols = {"State", "Md", "DPt Time", "DPT Time", "TestTime", "Test Time"}
        wanted = [n for n in names if n in WANTED]
        frame = read_delimited(path, skip_rows=h + 1, delimiter=delimiter, encoding="latin-1", label=label,
                               names=names, include=wanted, strings=[n for n in wanted if n in text_cols])
        cols = frame.columns
        tz = options.get("timezone")
        volt = cn.pick(cols, *VOLT_NAMES)
        cur = cn.pick(cols, "Amps", "Current", "Current [A]")
        if cur is None:
            raise UnreadableFile(f"{label}: no current column (Amps/Current) among {cols[:12]}")
        current = cn.numeric(frame, cur)
        state_col = cn.pick(cols, "State", "Md")
        if state_col is not None:
            current = cn.sign_from_state(current, np.asarray(pc.utf8_trim_whitespace(frame.arrow(state_col))))
        dpt = cn.pick(cols, "DPt Time", "DPT Time")
        tcol = cn.pick(cols, "Test (Sec)", "Test Time (sec)", "TestTime", "Test Time")
        stamps = None
        if dpt and tcol is None:
            stamps = cn.parse_datetime(frame[dpt], DATE_FORMATS, tz)
        # with a test-time column the wall clock is needed only at both ends (start, unit check)
        ends = cn.parse_datetime(frame.arrow(dpt).take([0, len(frame) - 1]).to_pandas(), DATE_FORMATS, tz) if dpt else None
        meta: dict[str, Any] = {"header_line": h + 1}
        t = None
        if tcol is not None:
            raw = frame[tcol]
            if raw.dtype.kind in "OU" and str(raw.iloc[0]).count(":") >= 2:
                t = elapsed_s(raw)
            else:
                t = cn.numeric(frame, tcol)
                if "sec" not in tcol.lower() and ends is not None and ends.notna().all():
                    # MIMS exports may write TestTime in minutes or hours: calibrate on the wall clock
                    span = (ends.iloc[-1] - ends.iloc[0]).total_seconds()
                    dt = t[-1] - t[0]
                    if dt > 0 and span > 0:
                        factor = min((1.0, 60.0, 3600.0), key=lambda f: abs(np.log(f * dt / span)))
                        t = t * factor
                        meta["test_time_unit_s"] = factor
        cap_col = cn.pick(cols, "Amp-hr", "Cap. [Ah]", "Capacity")
        cap = cn.numeric(frame, cap_col)
        start = ends.iloc[0] if ends is not None and t is not None else None
        return cn.build(reader_label=label, time_s=t, timestamps=stamps, start=start, current_a=current,
                        voltage_v=cn.numeric(frame, volt),
                        step=cn.numeric(frame, cn.pick(cols, "Step")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cyc#", "Cycle C", "Cycle P")),
                        vendor_capacity_ah=cap, meta=meta)
