"""XDI 1.x files (XAS Data Interchange): ``# XDI/1.x`` first line, ``# Namespace.tag: value`` header
fields, ``# Column.N: name [unit]``, an optional ``# ///`` comment block, ``#----``, then data rows.

The edge is what the header says (``Element.symbol`` + ``Element.edge``; Epics StepScan files write
``ScanParameters.element`` / ``ScanParameters.edge``); a header edge outside the scanned range is kept
and flagged. Without one, the edge is guessed from the data (tasks.nexafs.edges) and flagged.

Absorption, in order: a mu column (``mutrans``, ``mufluor``...), else ln(i0/itrans), else
ifluor/i0. The XDI names are the defaults; common beamline names (``IT``, ``I1`` for itrans, ``IF``
for ifluor) are accepted and flagged. ``reader_options.columns`` maps roles to the file's column
names (a list is summed, e.g. the ROIs of a multi-element fluorescence detector).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.nexafs.scan import build_spectrum, numeric_block, text_of

#: XDI column names of absorption, in order of preference, and the mode each implies.
MU_COLUMNS = {"mutrans": "TRANS", "mufluor": "FY", "murefer": "TRANS", "mutey": "TEY", "normtrans": "TRANS",
              "normfluor": "FY"}
#: XDI role -> names accepted without configuration; names after the first are flagged as defaulted.
COLUMN_ALIASES = {"energy": ("energy",), "i0": ("i0",), "itrans": ("itrans", "it", "i1"), "ifluor": ("ifluor", "if")}
XDI_FIRST_LINE = re.compile(rb"#\s*XDI/\d", re.I)
_FIELD = re.compile(r"#\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]+)\s*:\s*(.*)$")


def parse_header(lines: list[str]) -> tuple[dict[str, str], dict[int, tuple[str, str]]]:
    """Header fields (``namespace.tag`` lower case -> value, PV suffix after ``||`` dropped) and columns."""
    fields: dict[str, str] = {}
    columns: dict[int, tuple[str, str]] = {}
    for ln in lines:
        if not ln.startswith("#"):
            break
        m = _FIELD.match(ln)
        if not m:
            continue
        ns, key, value = m.group(1).lower(), m.group(2).lower(), m.group(3).split("||")[0].strip()
        if ns == "column" and key.isdigit():
            parts = value.split()
            if parts:
                columns[int(key)] = (parts[0].lower(), parts[1] if len(parts) > 1 else "")
        else:
            fields.setdefault(f"{ns}.{key}", value)
    return fields, columns


def header_edge(fields: Mapping[str, str]) -> str | None:
    for symbol, edge in (("element.symbol", "element.edge"), ("scanparameters.element", "scanparameters.edge")):
        if fields.get(symbol) and fields.get(edge):
            return f"{fields[symbol]} {fields[edge]}"
    return None


def _edge_energy(fields: Mapping[str, str]) -> float | None:
    for key in ("scan.edge_energy", "scanparameters.e0"):
        try:
            return float(fields[key].split()[0])
        except (KeyError, ValueError, IndexError):
            continue
    return None


class XdiReader(Reader):
    name = "nexafs-xdi"
    version = "3"
    techniques = ("nexafs",)
    suffixes = (".xdi",)
    formats = "XDI 1.0/1.1 (XAS Data Interchange) text files, any element and edge"
    detects_on = "first line starts with '# XDI/<version>' (space optional)"
    options_doc = {
        "columns": "role -> column name(s): energy, i0, itrans, ifluor, mu (a list is summed); "
                   "defaults are the XDI names, then IT/I1 (itrans) and IF (ifluor), flagged",
        "mode": "detection mode of a configured 'mu' column (TRANS, FY, TEY)",
        "edge": "edge when neither the header (Element.symbol/Element.edge) nor the energy range decides it (e.g. 'Fe_K')",
        "role": "sample / reference role of the spectrum",
    }
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        return XDI_FIRST_LINE.match(head.lstrip()[:16]) is not None

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        lines = text_of(path).splitlines()
        fields, columns = parse_header(lines)
        if not columns:
            raise UnreadableFile(f"{path.name}: XDI header declares no 'Column.N' fields")
        data = numeric_block(lines, path.name)
        index = {name: n - 1 for n, (name, _) in columns.items() if n - 1 < data.shape[1]}
        units = {name: unit for name, unit in columns.values()}
        flags: list[str] = []
        energy = self._column("energy", index, data, options, flags, path.name)
        if energy is None:
            raise UnreadableFile(f"{path.name}: XDI file has no 'energy' column (columns: {sorted(index)}); "
                                 f"set reader_options.columns.energy")
        if units.get(self._chosen_name("energy", index, options) or "", "").lower() == "kev":
            energy = energy * 1000.0
        mu, mode = self._absorption(index, data, options, flags, path.name)
        meta = {"edge": header_edge(fields), "edge_configured": options.get("edge"),
                "sample": fields.get("sample.name"),
                "role": options.get("role"), "beamline": fields.get("beamline.name"),
                "facility": fields.get("facility.name"), "edge_energy_ev": _edge_energy(fields),
                "layout": "xdi", "header": fields, "flags": flags}
        return build_spectrum(source=path.name, energy_ev=energy, mu=mu, mode=mode, meta=meta)

    @staticmethod
    def _chosen_name(role: str, index: Mapping[str, int], options: Mapping[str, Any]) -> str | None:
        configured = (options.get("columns") or {}).get(role)
        if isinstance(configured, str):
            return configured.lower()
        return next((a for a in COLUMN_ALIASES.get(role, (role,)) if a in index), None)

    def _column(self, role: str, index: Mapping[str, int], data: np.ndarray, options: Mapping[str, Any],
                flags: list[str], source: str) -> np.ndarray | None:
        configured = (options.get("columns") or {}).get(role)
        if configured is not None:
            names = [configured] if isinstance(configured, str) else list(configured)
            missing = [n for n in names if n.lower() not in index]
            if missing:
                raise UnreadableFile(f"{source}: reader_options.columns.{role} names {missing}, not among the "
                                     f"file's columns {sorted(index)}")
            return np.sum([data[:, index[n.lower()]] for n in names], axis=0)
        name = self._chosen_name(role, index, options)
        if name is None:
            return None
        if name != COLUMN_ALIASES.get(role, (role,))[0]:
            flags.append(f"column_mapping_defaulted: column {name!r} taken as XDI {role}")
        return data[:, index[name]]

    def _absorption(self, index, data, options, flags, source) -> tuple[np.ndarray, str]:
        if (options.get("columns") or {}).get("mu") is not None:
            return self._column("mu", index, data, options, flags, source), str(options.get("mode") or "") or None
        for name, mode in MU_COLUMNS.items():
            if name in index:
                return data[:, index[name]], mode
        i0 = self._column("i0", index, data, options, flags, source)
        for role, mode in (("itrans", "TRANS"), ("ifluor", "FY")):
            signal = self._column(role, index, data, options, flags, source)
            if i0 is not None and signal is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    return (np.log(i0 / signal) if mode == "TRANS" else signal / i0), mode
        raise UnreadableFile(f"{source}: XDI columns {sorted(index)} hold neither mu nor i0 with itrans/ifluor; "
                             f"map them in reader_options.columns (energy, i0, itrans or ifluor, or mu)")
