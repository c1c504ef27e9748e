"""Diamond SRS ``.dat`` scans, as written by GDA on I06-1, I10, B07 and other beamlines.

Layout: an ``&SRS`` line, header lines up to ``&END`` (``KEY=value`` pairs, several per line in the
old SRS namelist style — ``SRSRUN=571664,SRSDAT=201624,...`` — and, in GDA files, a
``<MetaDataAtStart>`` … ``</MetaDataAtStart>`` block of ``name=value`` lines), then one line of
column names (tab separated) and the data rows.

SRS has no units and no roles: the columns are scannables and counters named per beamline. The
defaults below cover the common names; ``reader_options.columns`` sets them for a beamline
(``{energy: pgm_energy, i0: ca61sr, TEY: ca62sr, FY: ca63sr, ref: ...}``), and a defaulted mapping
is flagged on every measurement.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile, quote_names
from tasks.nexafs.scan import build_scans, numeric_body, text_of

#: role -> candidate column names (case-insensitive), first present wins; yield modes upper case
DEFAULT_COLUMNS = {
    "energy": ("energy", "fastenergy", "pgm_energy", "energyh", "energyv"),
    "i0": ("ca61sr", "i0", "mcs16", "m4c1"),
    "TEY": ("ca62sr", "idio", "tey", "drain"),
    "FY": ("ca63sr", "fy", "tfy", "ifio"),
    "ref": ("ca64sr", "ref", "irefer"),
}
_PAIR = re.compile(r"([A-Za-z_][\w.:]*)\s*=\s*('[^']*'|\"[^\"]*\"|[^,]*)")


def split_srs(text: str, source: str) -> tuple[dict[str, str], list[str], str]:
    """(header key -> value, column names, data text) of an SRS file."""
    lines = text.splitlines()
    end = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "&END"), None)
    if end is None:
        raise UnreadableFile(f"{source}: SRS header has no '&END' line; the file is truncated or not an SRS scan")
    header: dict[str, str] = {}
    for ln in lines[1:end]:
        for key, value in _PAIR.findall(ln.strip().rstrip(",")):
            header.setdefault(key.lower(), value.strip().strip("'\""))
    rest = [ln for ln in lines[end + 1:]]
    names_at = next((i for i, ln in enumerate(rest) if ln.strip()), None)
    if names_at is None:
        raise UnreadableFile(f"{source}: SRS header ends but no column-name line and no data follow "
                             f"(header only: the scan was aborted before its first point)")
    sep = "\t" if "\t" in rest[names_at] else None
    names = [n.strip() for n in rest[names_at].split(sep) if n.strip()]
    return header, names, "\n".join(rest[names_at + 1:])


def _mapping(names: list[str], options: Mapping[str, Any]) -> tuple[dict[str, int], list[str]]:
    """role -> column index, and the roles that were defaulted (not set in reader_options)."""
    lower = {n.lower(): i for i, n in enumerate(names)}
    configured = {k: str(v) for k, v in (options.get("columns") or {}).items() if v}
    out, defaulted = {}, []
    for role, candidates in DEFAULT_COLUMNS.items():
        if role in configured:
            if configured[role].lower() not in lower:
                raise UnreadableFile(f"reader_options.columns.{role} names {configured[role]!r}, which is not a "
                                     f"column of this scan (columns: {names})")
            out[role] = lower[configured[role].lower()]
            continue
        found = next((c for c in candidates if c in lower), None)
        if found is not None:
            out[role] = lower[found]
            defaulted.append(f"{role}={names[lower[found]]}")
    return out, defaulted


class DiamondSrsReader(Reader):
    name = "nexafs-diamond-srs"
    version = "2"
    techniques = ("nexafs",)
    suffixes = (".dat",)
    formats = "Diamond Light Source SRS .dat scans written by GDA (I06-1, I10, B07 and other beamlines)"
    detects_on = "first non-blank line is '&SRS'"
    options_doc = {
        "columns": "role -> column name: energy, i0, TEY, FY, ref (defaults: energy/fastEnergy/pgm_energy, "
                   "ca61sr/i0, ca62sr/idio, ca63sr, ca64sr; a defaulted mapping is flagged)",
        "energy_unit": "eV or keV (default: eV, keV when every energy is below 100, flagged)",
        "dark": "role -> dark value in the channel's unit (default 0)",
        "edge": "edge of the scan, e.g. 'Ni_L', used when the energy range does not single one out (flagged)",
        "role": "sample / reference role",
    }
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip()[:4].upper() == b"&SRS"

    def read(self, path: Path, options: Mapping[str, Any]) -> list[Measurement]:
        header, names, body = split_srs(text_of(path), path.name)
        data = numeric_body(body, path.name)
        if data.shape[1] != len(names):
            raise UnreadableFile(f"{path.name}: {len(names)} column names but {data.shape[1]} numbers per row")
        roles, defaulted = _mapping(names, options)
        flags = [f"column_mapping_defaulted: {', '.join(defaulted)}"] if defaulted else []
        if "energy" not in roles:
            raise UnreadableFile(f"{path.name}: no energy column among {quote_names(names)}; set reader_options.columns.energy")
        energy = data[:, roles["energy"]]
        unit = str(options.get("energy_unit") or "").lower()
        if unit == "kev" or (not unit and np.nanmax(energy) < 100.0):
            energy = energy * 1000.0
            if not unit:
                flags.append("energy_unit_assumed: energies below 100 taken as keV")
        dark = {k: float(v) for k, v in (options.get("dark") or {}).items()}
        yields = {m: (data[:, roles[m]], "counts", dark.get(m, 0.0)) for m in ("TEY", "FY") if m in roles}
        if not yields:
            raise UnreadableFile(f"{path.name}: no yield column (TEY or FY) among {quote_names(names)}; map them in "
                                 f"reader_options.columns (e.g. TEY: ca62sr)")
        ref = (data[:, roles["ref"]], "counts", dark.get("ref", 0.0)) if "ref" in roles else None
        meta = {"layout": "diamond-srs", "edge_configured": options.get("edge"), "role": options.get("role"),
                "sample": options.get("sample") or header.get("sample") or header.get("srstle") or None,
                "scan_id": header.get("srsrun") or header.get("scannumber"), "beamline": header.get("beamline"),
                "scan_command": header.get("cmd"), "header": header, "column_names": names, "flags": flags}
        return build_scans(source=path.name, energy_ev=energy, i0=data[:, roles["i0"]] if "i0" in roles else None,
                           i0_unit="counts", yields=yields, dark_i0=dark.get("i0", 0.0), ref=ref, meta=meta)
