"""XDI 1.0 files (XAS Data Interchange): ``# XDI/1.0`` header, ``# Column.N: name unit``, data rows."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.nexafs.scan import build_spectrum, canonical_edge, numeric_block, text_of

#: XDI column names of absorption, in order of preference, and the mode each implies.
MU_COLUMNS = {"mutrans": "TRANS", "mufluor": "FY", "murefer": "TRANS", "mutey": "TEY", "normtrans": "TRANS",
              "normfluor": "FY"}


class XdiReader(Reader):
    name = "nexafs-xdi"
    version = "1"
    techniques = ("nexafs",)
    suffixes = (".xdi",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip()[:8].upper().startswith(b"# XDI/")

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        text = text_of(path)
        lines = text.splitlines()
        fields: dict[str, str] = {}
        columns: dict[int, tuple[str, str]] = {}
        for ln in lines:
            if not ln.startswith("#"):
                continue
            m = re.match(r"#\s*([A-Za-z_]+)\.([A-Za-z0-9_]+)\s*:\s*(.*)$", ln)
            if not m:
                continue
            ns, key, value = m.group(1).lower(), m.group(2).lower(), m.group(3).strip()
            if ns == "column":
                parts = value.split()
                columns[int(key)] = (parts[0].lower(), parts[1] if len(parts) > 1 else "")
            else:
                fields[f"{ns}.{key}"] = value
        if not columns:
            raise UnreadableFile(f"{path.name}: XDI header declares no 'Column.N' fields")
        data = numeric_block(lines, path.name)
        index = {name: n - 1 for n, (name, _) in columns.items() if n - 1 < data.shape[1]}
        if "energy" not in index:
            raise UnreadableFile(f"{path.name}: XDI file has no 'energy' column (columns: {sorted(index)})")
        energy = data[:, index["energy"]]
        if columns[index["energy"] + 1][1].lower() == "kev":
            energy = energy * 1000.0
        mu, mode = None, None
        for name, m in MU_COLUMNS.items():
            if name in index:
                mu, mode = data[:, index[name]], m
                break
        if mu is None and {"i0", "itrans"} <= set(index):
            with np.errstate(divide="ignore", invalid="ignore"):
                mu, mode = np.log(data[:, index["i0"]] / data[:, index["itrans"]]), "TRANS"
        if mu is None and {"i0", "ifluor"} <= set(index):
            with np.errstate(divide="ignore", invalid="ignore"):
                mu, mode = data[:, index["ifluor"]] / data[:, index["i0"]], "FY"
        if mu is None:
            raise UnreadableFile(f"{path.name}: XDI columns {sorted(index)} hold neither mu nor i0 with "
                                 f"itrans/ifluor; nothing to analyse")
        element, edge = fields.get("element.symbol"), fields.get("element.edge")
        edge_name = canonical_edge(f"{element} {edge}" if element and edge else None, energy)
        meta = {"edge": edge_name, "sample": fields.get("sample.name"), "role": options.get("role"),
                "beamline": fields.get("beamline.name"), "facility": fields.get("facility.name"),
                "edge_energy_ev": float(fields["scan.edge_energy"]) if "scan.edge_energy" in fields else None,
                "layout": "xdi", "header": fields}
        return build_spectrum(source=path.name, energy_ev=energy, mu=mu, mode=mode, meta=meta)
