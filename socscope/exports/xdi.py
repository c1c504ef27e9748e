"""XAS spectra and scans as XDI 1.0 (XAS Data Interchange, the IXAS/IUCr format Athena and Larch read).

Written to the specification (XraySpectroscopy/XAS-Data-Interchange, specification/spec.md, v1.0):
first line ``# XDI/1.0 <application>/<version>``; the required fields ``Element.symbol``,
``Element.edge`` and ``Column.1: energy eV`` (the abscissa, in the first column); the field-end line
``# ///`` before comments; the header-end line ``# ----``; a line of column labels; whitespace-separated
numbers. Column labels are the dictionary's where one exists (i0, itrans, ifluor, irefer, mutrans,
mufluor); electron yield has none and is labelled ``itey``/``mutey`` (free-form labels are allowed).
``Mono.d_spacing`` is required only for an angle abscissa; ours is energy, and the readers do not
know the crystal, so it is left out rather than guessed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: detection mode -> the dictionary's word for its signal ("trans" -> itrans / mutrans)
MODE_WORDS = {"TRANS": "trans", "FY": "fluor", "PFY": "fluor", "TFY": "fluor", "TEY": "tey", "PEY": "pey"}


def write_measurement(m: Any, path: Path, element: str | None = None, edge: str | None = None) -> Path:
    if m.kind not in ("xas_spectrum", "xas_scan"):
        raise TypeError(f"XDI is for XAS spectra and scans; {m.path.name} is a {m.kind}")
    symbol, level = _absorber(m.meta, element, edge, m.path.name)
    columns = _columns(m)
    fields = {"Element.symbol": symbol, "Element.edge": level}
    fields.update({f"Column.{i}": label for i, (label, _) in enumerate(columns, start=1)})
    for key, meta_key in (("Scan.edge_energy", "edge_energy_ev"), ("Facility.name", "facility"),
                          ("Beamline.name", "beamline"), ("Sample.name", "sample")):
        if m.meta.get(meta_key) not in (None, "", "None"):
            fields[key] = str(m.meta[meta_key])
    fields.update({"Socscope.reader": str(m.reader), "Socscope.source_file": m.path.name,
                   "Socscope.source_sha256": m.sha256, "Socscope.mode": str(m.mode)})
    comments = [f"exported by socscope from {m.path.name}"]
    return write_xdi(path, fields, comments, [label.split()[0] for label, _ in columns],
                     np.column_stack([m.data[col].to_numpy(dtype=float) for _, col in columns]))


def _absorber(meta: dict, element: str | None, edge: str | None, name: str) -> tuple[str, str]:
    """Element symbol and edge (required by XDI): given, else the reader's, else refused with what to pass."""
    symbol = element or meta.get("element")
    level = edge or meta.get("edge_level")
    if (not symbol or not level) and isinstance(meta.get("edge"), str) and "_" in meta["edge"]:
        symbol, level = symbol or meta["edge"].split("_")[0], level or meta["edge"].split("_")[1]
    if not symbol or not level:
        raise ValueError(f"{name}: XDI requires the absorber's Element.symbol and Element.edge, and the file does "
                         "not say them: pass element='Ni', edge='L3' (or set the share's edge option)")
    return str(symbol), str(level)


def _columns(m: Any) -> list[tuple[str, str]]:
    """(XDI label with unit, our column) in file order; energy first, as the specification requires."""
    word = MODE_WORDS.get(str(m.mode).upper(), str(m.mode).lower() if m.mode else "signal")
    if m.units.get("energy_ev") != "eV":
        raise ValueError(f"energy column unit is {m.units.get('energy_ev')!r}, expected eV")
    if m.kind == "xas_spectrum":
        names = {"energy_ev": "energy eV", "mu": f"mu{word}"}
    else:
        names = {"energy_ev": "energy eV", "i0": "i0", "signal": f"i{word}", "ref": "irefer"}
    return [(label, col) for col, label in names.items() if col in m.data.columns]


def write_xdi(path: Path, fields: dict[str, str], comments: list[str], labels: list[str], values: np.ndarray) -> Path:
    lines = [f"# XDI/1.0 socscope/{_version()}"]
    lines += [f"# {key}: {_one_line(value)}" for key, value in fields.items()]
    lines += ["# ///"] + [f"# {_one_line(c)}" for c in comments] + ["#----", "# " + " ".join(labels)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        np.savetxt(fh, values, fmt="%.10g")
    return path


def _one_line(text: str) -> str:
    """XDI fields must not span lines."""
    return " ".join(str(text).split())


def _version() -> str:
    from socscope.version import package_version

    return package_version().split()[0]
