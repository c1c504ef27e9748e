"""Smaller vendor formats seen in shared data: Basytec result files and Novonix UHPC CSV."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import read_delimited

BASYTEC_MAGIC = "~Resultfile from Basytec"
BASYTEC_WANTED = {"Time[s]", "Time[h]", "I[A]", "U[V]", "Line", "Cyc-Count", "Ah[Ah]"}


class BasytecReader(Reader):
    name = "basytec-text"
    version = "1"
    techniques = ("echem",)
    suffixes = (".txt",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head.decode("latin-1", errors="replace").lstrip().startswith(BASYTEC_MAGIC)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Basytec result file {path.name}"
        with open(path, "rb") as fh:
            lines = cn.text_lines(fh.read(65536), 200)
        h = next((i for i, ln in enumerate(lines) if ln.startswith("~Time[")), None)
        if h is None:
            raise UnreadableFile(f"{label}: no '~Time[...]' column row in the ~ header; re-export with data")
        names = [n.strip() for n in lines[h].lstrip("~").split("\t")]
        frame = read_delimited(path, skip_rows=h + 1, delimiter="\t", encoding="latin-1", label=label, names=names,
                               include=[n for n in names if n in BASYTEC_WANTED])
        start = None
        m = next((re.search(r"Start of Test:\s*(.+)$", ln) for ln in lines[:h] if "Start of Test" in ln), None)
        if m:
            start = cn.start_time(datetime.strptime(m.group(1).strip(), "%d.%m.%Y %H:%M:%S"), options.get("timezone"))
        tcol = cn.pick(list(frame.columns), "Time[s]", "Time[h]")
        t = cn.numeric(frame, tcol) * (3600.0 if tcol == "Time[h]" else 1.0)
        return cn.build(reader_label=label, time_s=t, start=start, current_a=cn.numeric(frame, "I[A]"),
                        voltage_v=cn.numeric(frame, "U[V]"), step=cn.numeric(frame, "Line"),
                        cycle=cn.numeric(frame, cn.pick(list(frame.columns), "Cyc-Count")),
                        vendor_capacity_ah=cn.numeric(frame, cn.pick(list(frame.columns), "Ah[Ah]")),
                        meta={"header_lines": h})


class NovonixReader(Reader):
    name = "novonix-csv"
    version = "1"
    techniques = ("echem",)
    suffixes = (".csv",)

    def sniff(self, head: bytes, name: str) -> bool:
        text = head[:4096].decode("latin-1", errors="replace")
        return text.lstrip().startswith("[Summary]") and "Novonix" in text

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Novonix CSV {path.name}"
        with open(path, "rb") as fh:
            lines = fh.read(1 << 20).decode("utf-8", errors="replace").splitlines()
        h = next((i for i, ln in enumerate(lines) if ln.strip() == "[Data]"), None)
        if h is None:
            raise UnreadableFile(f"{label}: no [Data] section after the summary; the export is incomplete")
        frame = read_delimited(path, skip_rows=h + 1, delimiter=",", encoding="utf-8", label=label)
        cols = list(frame.columns)
        tz = options.get("timezone")
        stamps = cn.parse_datetime(frame["Date and Time"], ("%Y-%m-%d %H:%M:%S",), tz) if "Date and Time" in cols else None
        t = cn.numeric(frame, cn.pick(cols, "Run Time (h)"))
        return cn.build(reader_label=label, time_s=None if t is None else t * 3600.0, timestamps=stamps,
                        current_a=cn.numeric(frame, "Current (A)"), voltage_v=cn.numeric(frame, "Potential (V)"),
                        step=cn.numeric(frame, cn.pick(cols, "Step Number")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cycle Number")),
                        vendor_capacity_ah=None, meta={"summary_lines": h})
