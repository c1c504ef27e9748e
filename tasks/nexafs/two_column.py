"""Processed spectra as plain text: ``#`` comments, then columns whose first two are energy (eV)
and absorption (e.g. a normalised XANES exported by Athena, Larch or SOLEIL's extranormal)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader
from tasks.nexafs.ascii_scan import AUSYNC_MARKER, KARA_MARKER
from tasks.nexafs.scan import build_spectrum, numeric_block, text_of
from tasks.nexafs.xdi import XDI_FIRST_LINE

_ROW = re.compile(r"^\s*[-+]?\d+(\.\d*)?([eE][-+]?\d+)?(\s+[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)+\s*$")


class ProcessedSpectrumReader(Reader):
    name = "nexafs-processed-columns"
    version = "3"
    techniques = ("nexafs",)
    suffixes = (".txt", ".dat", ".nor")
    formats = "processed spectra as text columns (energy eV, absorption), e.g. Athena/Larch/extranormal exports"
    detects_on = "'#' comments then at least 5 numeric rows whose first column is a monotonic 100-40000 eV axis"
    options_doc = {"edge": "edge of the spectra, e.g. 'Ni_K', used when the energy range does not single one out (flagged)",
                   "sample": "sample name", "role": "sample / reference role", "mode": "detection mode"}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        text = head.decode("latin-1", errors="replace")
        if text.startswith((KARA_MARKER, AUSYNC_MARKER)) or XDI_FIRST_LINE.match(head.lstrip()[:16]):
            return False
        lines = [ln for ln in text.splitlines()[:400] if ln.strip()]
        rows = [ln for ln in lines if not ln.lstrip().startswith("#")][:20]
        if len(rows) < 5 or not all(_ROW.match(r) for r in rows[:-1]):
            return False
        first = [float(r.split()[0]) for r in rows[:-1]]
        # energies of soft or hard X-ray edges, rising or falling
        return 100.0 <= first[0] <= 40000.0 and (np.all(np.diff(first) > 0) or np.all(np.diff(first) < 0))

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        text = text_of(path)
        lines = text.splitlines()
        comments = [ln.lstrip("#").strip() for ln in lines if ln.startswith("#")]
        data = numeric_block(lines, path.name)
        names = comments[-1].split("\t") if comments and "\t" in comments[-1] else []
        normalised = any("normaliz" in c.lower() or "normalis" in c.lower() for c in comments)
        meta = {"edge_configured": options.get("edge"), "sample": options.get("sample"), "role": options.get("role"),
                "layout": "processed-columns", "normalised_input": normalised,
                "column_names": [n.strip() for n in names], "header": "\n".join(comments)}
        for c in comments:
            m = re.match(r"Time from start \(seconds\)\s*=\s*([-+.\deE]+)", c)
            if m:
                meta["time_from_start_s"] = float(m.group(1))
        return build_spectrum(source=path.name, energy_ev=data[:, 0], mu=data[:, 1], mode=options.get("mode"),
                              meta=meta)
