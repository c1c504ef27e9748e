"""BioLogic EC-Lab / BT-Lab text exports: .mpt (with or without header block), BT-Lab .txt, and the
semicolon .csv variant whose time column holds absolute date-times."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import column_names, fixed_datetime_utc, read_delimited

MAGIC = ("EC-Lab ASCII FILE", "BT-Lab ASCII FILE")
LOG_MAGIC = ("EC-Lab LOG FILE", "BT-Lab LOG FILE")
START_RX = re.compile(r"Acquisition started on\s*:\s*(\S+ \S+)")
DATE_FORMATS = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def _looks_like_column_row(line: str) -> bool:
    return "time/s" in line and ("Ewe/V" in line or "Ecell/V" in line)


WANTED = ("time/s", "Ewe/V", "Ecell/V", "<Ewe>/V", "<Ecell>/V", "I/mA", "<I>/mA", "control/mA", "dq/mA.h",
          "Ns", "cycle number", "half cycle", "(Q-Qo)/mA.h")


def biologic_columns(frame: Any, label: str, absolute_time: bool = False) -> dict[str, Any]:
    """Canonical arrays from BioLogic column names (shared by the text and the .mpr reader)."""
    cols = [str(c) for c in frame.columns]
    volt = cn.pick(cols, "Ewe/V", "Ecell/V", "<Ewe>/V", "<Ecell>/V")
    if volt is None:
        raise UnreadableFile(f"{label}: no Ewe/V or Ecell/V column among {cols[:12]}...; "
                             "export the working-electrode potential")
    t = None if absolute_time or "time/s" not in cols else cn.numeric(frame, "time/s")
    cur_col = cn.pick(cols, "I/mA", "<I>/mA", "control/mA")
    meta: dict[str, Any] = {}
    if cur_col is not None and cur_col != "control/mA":
        current = cn.numeric(frame, cur_col, divide_by=1000.0)
    elif "dq/mA.h" in cols and t is not None:
        # some GCPL exports log the charge increment per point but not the current itself
        dq = cn.numeric(frame, "dq/mA.h")
        dt = np.diff(t, prepend=t[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            current = np.where(dt > 0, dq * 3.6 / dt, 0.0)
        meta["current_source"] = "dq/mA.h per time step"
    else:
        current = np.zeros(len(frame))
        meta["current_source"] = "none logged (open circuit)"
    step = cn.counter(frame, cn.pick(cols, "Ns"))
    cyc = cn.numeric(frame, cn.pick(cols, "cycle number"))
    if cyc is None and "half cycle" in cols:
        half = cn.counter(frame, "half cycle")
        cyc = half // 2 if half.dtype.kind in "iu" else np.floor(half / 2.0)
    cap = cn.numeric(frame, cn.pick(cols, "(Q-Qo)/mA.h"), divide_by=1000.0)
    return dict(current_a=current, voltage_v=cn.numeric(frame, volt), step=step, cycle=cyc,
                vendor_capacity_ah=cap, time_s=t, meta=meta)


class BiologicTextReader(Reader):
    name = "biologic-text"
    version = "1"
    techniques = ("echem",)
    suffixes = (".mpt", ".txt", ".csv")

    def sniff(self, head: bytes, name: str) -> bool:
        lines = cn.text_lines(head, 3)
        if not lines:
            return False
        first = lines[0].strip()
        return first.startswith(MAGIC) or first.startswith(LOG_MAGIC) or _looks_like_column_row(lines[0])

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"BioLogic text export {path.name}"
        with open(path, "rb") as fh:
            head = fh.read(65536)
        lines = cn.text_lines(head, 400)
        first = lines[0].strip() if lines else ""
        if first.startswith(LOG_MAGIC):
            raise UnreadableFile(f"{label} is a BioLogic log/settings file (.mpl), which holds no data "
                                 "records; ingest the .mpr or its text export instead (exclude *.mpl on the share)")
        skip = 0
        header: list[str] = []
        if first.startswith(MAGIC):
            m = re.search(r"Nb header lines\s*:\s*(\d+)", "\n".join(lines[:3]))
            if not m:
                raise UnreadableFile(f"{label}: the header does not say 'Nb header lines'; re-export with EC-Lab")
            skip = int(m.group(1)) - 1
            header = lines[:skip]
            if skip >= len(lines) or not _looks_like_column_row(lines[skip]):
                raise UnreadableFile(f"{label}: line {skip + 1} should hold the column names (header of "
                                     f"{skip + 1} lines announced) but does not; the file is damaged")
        col_line = lines[skip]
        delimiter = ";" if col_line.count(";") > col_line.count("\t") else "\t"
        if skip + 1 >= len(lines):
            raise UnreadableFile(f"{label}: the column names are not followed by any data row")
        names = column_names(col_line, lines[skip + 1], delimiter)
        first_time = lines[skip + 1].split(delimiter)[names.index("time/s")] if "time/s" in names else ""
        absolute = "/" in first_time  # the semicolon export writes date-times in the time/s column
        frame = read_delimited(path, skip_rows=skip + 1, delimiter=delimiter, encoding="latin-1", label=label,
                               names=names, include=[n for n in names if n in WANTED],
                               strings=["time/s"] if absolute else ())
        tz = options.get("timezone")
        start = None
        for line in header:
            m = START_RX.search(line)
            if m:
                start = cn.start_time(pd.to_datetime(m.group(1), format="%m/%d/%Y %H:%M:%S.%f", errors="coerce")
                                      if "." in m.group(1) else pd.to_datetime(m.group(1), format="%m/%d/%Y %H:%M:%S",
                                                                               errors="coerce"), tz)
                break
        arrays = biologic_columns(frame, label, absolute_time=absolute)
        timestamps = None
        t = arrays.pop("time_s")
        if absolute:
            timestamps = fixed_datetime_utc(frame.arrow("time/s"), "mdy", tz)
            if timestamps is None:
                timestamps = cn.parse_datetime(frame["time/s"], DATE_FORMATS, tz)
            t = None
        meta = {"software": first if first.startswith(MAGIC) else "", "header_lines": skip + 1 if header else 0,
                **arrays.pop("meta")}
        if not header:
            meta["note"] = "exported without header block: no start time, no settings"
        return cn.build(reader_label=label, time_s=t, timestamps=timestamps, start=start, meta=meta, **arrays)
