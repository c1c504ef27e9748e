"""Beamline ASCII scans: column-mapped text files, with known layouts recognised by content.

Layouts:
- ``kara``: the KARA soft X-ray layout (``# KARA`` first line, ``# Key (unit): value`` header lines,
  last comment line = tab-separated column names with units in brackets, e.g. ``TEY(A)``; dark
  values as ``# Dark TEY (A): 5e-13``).
- ``ausync-sxr``: Australian Synchrotron SXR ``mda2ascii`` exports (scaler counts per dwell,
  dark count *rates* in the Extra PV block).
- any other beamline with the same ``# key: value`` + column-name header: the share's
  ``reader_options`` give the mapping, e.g.::

      reader_options:
        columns: {energy: "Mono Energy", i0: "Izero", TEY: "Drain", FY: "SDD", ref: "Mesh"}
        dark: {i0: 0.0, TEY: 1.2e-12}        # optional, else read from '# Dark <column>:' lines
        header: {edge: Edge, sample: Sample, role: Role}   # optional header key names
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile, quote_names
from tasks.nexafs.scan import (
    build_scans,
    numeric_block,
    numeric_body,
    split_header,
    text_of,
)

KARA_MARKER = "# KARA"
AUSYNC_MARKER = "## mda2ascii"
_KEY_VALUE = re.compile(r"^#\s*([A-Za-z][^:]*?)\s*(?:\(([^)]*)\))?\s*:\s*(.*?)\s*$")
_COLUMN = re.compile(r"^\s*(.*?)\s*(?:\(([^)]*)\))?\s*$")

#: Default mapping of the KARA layout: role -> column base name. Yield modes are upper case.
KARA_COLUMNS = {"energy": "Energy", "i0": "I0", "TEY": "TEY", "FY": "FY", "ref": "Ref", "ring_current": "Ring"}
KARA_HEADER = {"edge": "Edge", "sample": "Sample", "role": "Role", "beamtime": "Beamtime", "scan_id": "Scan",
               "beamline": "Beamline", "ring_current_ma": "Ring current", "dwell_s": "Dwell",
               "incidence_deg": "Incidence angle", "exit_deg": "Exit angle"}

#: Australian Synchrotron SXR (2024) scaler channels, after pyNexafs' channel table.
AUSYNC_COLUMNS = {"energy": "SR14ID01PGM_CALC_ENERGY_MONITOR.P", "i0": "SR14ID01IOC68:scaler1.S18",
                  "TEY": "SR14ID01IOC68:scaler1.S20", "FY": "SR14ID01IOC68:scaler1.S22",
                  "PEY": "SR14ID01IOC68:scaler1.S21", "ref": "SR14ID01IOC68:scaler1.S19",
                  "dwell": "SR14ID01IOC68:scaler1.TP"}
#: Extra-PV descriptions of the dark count rates (cps) of the same channels.
AUSYNC_DARK = {"i0": "IzeroVF dark", "TEY": "DrainCurrentVF dark", "FY": "MCP dark", "PEY": "Channeltron dark",
               "ref": "Ref_Foil_VF dark"}


def _float(text: Any, default: float | None = None) -> float | None:
    try:
        return float(str(text).strip().strip('"'))
    except (TypeError, ValueError):
        return default


def parse_kara_header(lines: list[str]) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """``# Key (unit): value`` pairs (key -> (value, unit)) and the column names with units."""
    header: dict[str, tuple[str, str]] = {}
    comment_lines = [ln for ln in lines if ln.startswith("#")]
    for ln in comment_lines[:-1]:
        m = _KEY_VALUE.match(ln)
        if m:
            header[m.group(1).strip().lower()] = (m.group(3), (m.group(2) or "").strip())
    names = comment_lines[-1].lstrip("#").strip() if comment_lines else ""
    fields = re.split(r"\t+|\s{2,}", names) if names else []
    columns = []
    for f in fields:
        m = _COLUMN.match(f)
        columns.append((m.group(1).strip(), (m.group(2) or "").strip()))
    return header, columns


class BeamlineAsciiReader(Reader):
    name = "nexafs-beamline-ascii"
    version = "3"
    techniques = ("nexafs",)
    suffixes = (".dat", ".txt", ".asc")
    formats = ("beamline ASCII scans: KARA soft X-ray layout, Australian Synchrotron SXR mda2ascii exports, "
               "and any '# key: value' + column-name text layout mapped in reader_options")
    detects_on = "first line '# KARA', or '## mda2ascii' with SR14ID01 channels in the head"
    options_doc = {"columns": "role -> column name: energy, i0, TEY, FY, PEY, ref, ring_current",
                   "edge": "edge (e.g. 'Fe_L') when neither the header's edge field nor the energy range decides it",
                   "dark": "role -> dark value in the channel's unit (else '# Dark <column>:' lines, else 0)",
                   "header": "meaning -> header key name (edge, sample, role, beamtime, scan_id, ...)"}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        text = head[:4096].decode("latin-1", errors="replace")
        if text.startswith(AUSYNC_MARKER) and "SR14ID01" in head.decode("latin-1", errors="replace"):
            return True
        return text.startswith(KARA_MARKER)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement | list[Measurement]:
        text = text_of(path)
        if text.startswith(AUSYNC_MARKER):
            return read_ausync(text, path.name, options.get("edge"))
        return read_mapped(text, path.name, options)


def read_mapped(text: str, source: str, options: Mapping[str, Any]) -> list[Measurement]:
    head_lines, body = split_header(text)
    header, columns = parse_kara_header(head_lines)
    if not columns:
        raise UnreadableFile(f"{source}: no column-name line (the last '#' line before the data)")
    mapping = dict(KARA_COLUMNS)
    mapping.update(options.get("columns", {}) or {})
    header_keys = dict(KARA_HEADER)
    header_keys.update(options.get("header", {}) or {})
    data = numeric_body(body, source)
    if data.shape[1] != len(columns):
        raise UnreadableFile(f"{source}: {len(columns)} column names but {data.shape[1]} numbers per row")
    by_name = {n.lower(): (i, unit) for i, (n, unit) in enumerate(columns)}

    def column(role: str) -> tuple[np.ndarray, str] | None:
        wanted = mapping.get(role)
        if wanted is None or wanted.lower() not in by_name:
            return None
        i, unit = by_name[wanted.lower()]
        return data[:, i], unit

    def head(key: str) -> str | None:
        name = header_keys.get(key, key)
        v = header.get(str(name).lower())
        return v[0] if v else None

    def dark(role: str) -> float:
        configured = (options.get("dark", {}) or {}).get(role)
        if configured is not None:
            return float(configured)
        v = header.get(f"dark {str(mapping.get(role, role)).lower()}")
        return _float(v[0], 0.0) if v else 0.0

    energy = column("energy")
    if energy is None:
        raise UnreadableFile(f"{source}: no energy column {mapping.get('energy')!r} among {quote_names(c for c, _ in columns)}; "
                             f"set reader_options.columns.energy for this beamline")
    if energy[1] and energy[1].lower() == "kev":
        energy = (energy[0] * 1000.0, "eV")
    i0 = column("i0")
    yields = {}
    for mode in ("TEY", "FY", "PEY"):
        col = column(mode)
        if col is not None:
            yields[mode] = (col[0], col[1] or "counts", dark(mode))
    if not yields:
        raise UnreadableFile(f"{source}: none of the yield columns {[mapping.get(m) for m in ('TEY', 'FY')]} is in "
                             f"the file (columns: {[c for c, _ in columns]}); map them in reader_options.columns")
    ref = column("ref")
    meta: dict[str, Any] = {
        "layout": "kara" if text.startswith(KARA_MARKER) else "mapped",
        "edge": head("edge"), "edge_configured": options.get("edge"), "sample": head("sample"), "role": head("role"),
        "beamtime": head("beamtime"), "scan_id": head("scan_id"), "beamline": head("beamline"),
        "ring_current_ma": _float(head("ring_current_ma")), "dwell_s": _float(head("dwell_s")),
        "incidence_deg": _float(head("incidence_deg")), "exit_deg": _float(head("exit_deg")),
        "header": {k: v[0] for k, v in header.items()},
    }
    ring = column("ring_current")
    if ring is not None:
        meta["ring_current_ma"] = float(np.nanmean(ring[0]))
    return build_scans(source=source, energy_ev=energy[0], i0=i0[0] if i0 else None,
                       i0_unit=(i0[1] if i0 else "") or "counts", yields=yields, dark_i0=dark("i0"),
                       ref=(ref[0], ref[1] or "counts", dark("ref")) if ref is not None else None, meta=meta)


def read_ausync(text: str, source: str, configured_edge: str | None = None) -> list[Measurement]:
    """Australian Synchrotron SXR export: counts per dwell; dark rates (cps) x dwell = dark counts."""
    lines = text.splitlines()
    pvs: dict[str, tuple[str, str, str]] = {}  # name -> (description, value, unit)
    columns: dict[str, int] = {}
    meta: dict[str, Any] = {"layout": "ausync-sxr", "beamline": "Australian Synchrotron SXR",
                            "edge_configured": configured_edge}
    for ln in lines:
        if ln.startswith("# Extra PV"):
            body = ln.partition(":")[2]
            m = re.match(r'\s*(\S+),\s*(.*?),\s*"(.*?)"\s*(?:,\s*(.*))?$', body)
            if m:
                pvs[m.group(1)] = (m.group(2), m.group(3), (m.group(4) or "").strip())
        elif re.match(r"^#\s+\d+\s+\[", ln):
            num = int(ln[1:7])
            desc = ln.partition("]")[2].strip()
            columns[desc.split(",")[0].strip()] = num - 1
        elif ln.startswith("# Scan number"):
            meta["scan_id"] = ln.partition("=")[2].strip()
        elif ln.startswith("# Scan time"):
            meta["scan_time"] = ln.partition("=")[2].strip()
    data = numeric_block(lines, source)
    missing = [c for c in (AUSYNC_COLUMNS["energy"], AUSYNC_COLUMNS["i0"]) if c not in columns]
    if missing:
        raise UnreadableFile(f"{source}: SXR export lacks the columns {missing}; the scan cannot be normalised")

    wanted = max(columns.values(), default=0)
    if data.ndim != 2 or wanted >= data.shape[1]:
        raise UnreadableFile(f"{source}: the header describes column {wanted + 1} but the rows have "
                             f"{data.shape[1] if data.ndim == 2 else 0} columns; the file is damaged or truncated")

    def col(role: str) -> np.ndarray | None:
        name = AUSYNC_COLUMNS[role]
        return data[:, columns[name]] if name in columns else None

    dwell = col("dwell")
    dwell_s = float(np.nanmedian(dwell)) if dwell is not None else 1.0

    def dark_counts(role: str) -> float:
        for _, (desc, value, _) in pvs.items():
            if desc.startswith(AUSYNC_DARK[role]):
                return (_float(value, 0.0) or 0.0) * dwell_s
        return 0.0

    yields = {mode: (col(mode), "counts", dark_counts(mode)) for mode in ("TEY", "FY", "PEY") if col(mode) is not None}
    for desc, value, unit in pvs.values():
        if desc == "beam current":
            meta["ring_current_ma"] = _float(value)
    comment = pvs.get("SR14ID01NEXSCAN:saveData_comment1")
    meta.update(sample=comment[1] if comment else None, dwell_s=dwell_s, role=None, edge=None,
                dark_rates_cps={r: dark_counts(r) / dwell_s for r in AUSYNC_DARK})
    ref = col("ref")
    return build_scans(source=source, energy_ev=col("energy"), i0=col("i0"), i0_unit="counts", yields=yields,
                       dark_i0=dark_counts("i0"),
                       ref=(ref, "counts", dark_counts("ref")) if ref is not None else None, meta=meta)
