"""Smaller vendor formats seen in shared data: Basytec result files and Novonix UHPC CSV."""
from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem import time_columns as tc
from tasks.echem.tabular import read_delimited
from tasks.echem.vendor import require, timezone_of

BASYTEC_MAGIC = "~Resultfile from Basytec"
BASYTEC_WANTED = {"Time[s]", "Time[h]", "I[A]", "U[V]", "Line", "Cyc-Count", "Ah[Ah]"}


class BasytecReader(Reader):
    name = "basytec-text"
    version = "3"
    techniques = ("echem",)
    suffixes = (".txt",)
    formats = "Basytec result files (~-prefixed header, tab-separated Time[s]/Time[h], I[A], U[V] records)"
    detects_on = "starts with '~Resultfile from Basytec'"
    options_doc = {"timezone": "IANA zone of the tester's clock ('Start of Test'); default UTC, recorded in meta",
                   tc.OPTION: "Time[s]/Time[h]: " + tc.OPTION_DOC}
    extra = ""

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
        tcol, cur, volt = cn.pick(names, "Time[s]", "Time[h]"), cn.pick(names, "I[A]"), cn.pick(names, "U[V]")
        require({"Time[s] or Time[h]": tcol, "I[A]": cur, "U[V]": volt}, names, label)
        frame = read_delimited(path, skip_rows=h + 1, delimiter="\t", encoding="latin-1", label=label, names=names,
                               include=[n for n in names if n in BASYTEC_WANTED])
        tz, meta = timezone_of(options)
        meta["header_lines"] = h
        start = None
        m = next((re.search(r"Start of Test:\s*(.+)$", ln) for ln in lines[:h] if "Start of Test" in ln), None)
        try:
            start = cn.start_time(datetime.strptime(m.group(1).strip(), "%d.%m.%Y %H:%M:%S"), tz) if m else None
        except ValueError:
            meta["absolute_time"] = f"null: 'Start of Test: {m.group(1).strip()}' is not dd.mm.yyyy HH:MM:SS"
        if m is None:
            meta["absolute_time"] = "null: the header has no 'Start of Test' line"
        t = tc.elapsed_seconds(frame.arrow(tcol), column=tcol, label=label, form=tc.named_form(options, label),
                               scale=3600.0 if tcol == "Time[h]" else 1.0)
        return cn.build(reader_label=label, time_s=t, start=start, current_a=cn.numeric(frame, cur),
                        voltage_v=cn.numeric(frame, volt), step=cn.numeric(frame, cn.pick(names, "Line")),
                        cycle=cn.numeric(frame, cn.pick(names, "Cyc-Count")),
                        vendor_capacity_ah=cn.numeric(frame, cn.pick(names, "Ah[Ah]")), meta=meta)


class NovonixReader(Reader):
    name = "novonix-csv"
    version = "4"
    techniques = ("echem",)
    suffixes = (".csv",)
    formats = ("Novonix UHPC/HPC CSV ([Summary] ... [Data] sections), including exports whose every line "
               "is one quoted field")
    detects_on = "starts with '[Summary]' and names Novonix in the first 4 KiB"
    options_doc = {"timezone": "IANA zone of the tester's clock (naive Date and Time); default UTC, recorded in meta",
                   tc.OPTION: "Run Time (h): " + tc.OPTION_DOC}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        text = head[:4096].decode("latin-1", errors="replace")
        return text.lstrip().startswith("[Summary]") and "Novonix" in text

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Novonix CSV {path.name}"
        data = path.read_bytes()
        at = data.find(b"[Data]")
        if at < 0:
            raise UnreadableFile(f"{label}: no [Data] section after the summary; the export is incomplete")
        skip = data.count(b"\n", 0, at) + 1
        body = data[data.index(b"\n", at) + 1:] if b"\n" in data[at:] else b""
        if body.lstrip().startswith(b'"'):
            # re-saved exports quote each whole line ("a,b,c"): the quotes hide the fields, drop them
            data = data[:at] + b"[Data]\n" + body.replace(b'"', b"")
        frame = read_delimited(io.BytesIO(data), skip_rows=skip, delimiter=",", encoding="utf-8", label=label)
        cols = list(frame.columns)
        cur, volt = cn.pick(cols, "Current (A)"), cn.pick(cols, "Potential (V)")
        tcol, dcol = cn.pick(cols, "Run Time (h)"), cn.pick(cols, "Date and Time")
        require({"Current (A)": cur, "Potential (V)": volt, "Run Time (h) or Date and Time": tcol or dcol}, cols, label)
        tz, meta = timezone_of(options)
        meta["summary_lines"] = skip - 1
        stamps = tc.vendor_clock(frame.arrow(dcol), column=dcol, label=label, formats=NOVONIX_DATES, tz=tz) \
            if dcol else None
        t = None if tcol is None else tc.elapsed_seconds(frame.arrow(tcol), column=tcol, label=label,
                                                         form=tc.named_form(options, label), scale=3600.0)
        return cn.build(reader_label=label, time_s=t, timestamps=stamps,
                        current_a=cn.numeric(frame, cur), voltage_v=cn.numeric(frame, volt),
                        step=cn.numeric(frame, cn.pick(cols, "Step Number")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cycle Number")),
                        vendor_capacity_ah=None, meta=meta)


NOVONIX_DATES = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %I:%M:%S %p")
