"""Powder reflection lists with gemmi's structure factors — the demo's path, independent of our refinement.

A phase is what the campaign declares (``settings.sxpd.phases``: a CIF, or space group + cell + atoms);
``reflections`` gives, for a cell, one line per distinct d-spacing: d, Σ|F|² over every (h, k, l) of that
d in the full sphere (multiplicity and Friedel mates included) and one representative (h, k, l).
Intensities on an absolute per-cell scale, so that phase weight fractions can be set physically:
integrated intensity ∝ (volume fraction / V²)·m|F|² (Hill & Howard, J. Appl. Cryst. 20 (1987) 467).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np


@dataclass
class Phase:
    name: str
    role: str
    #: gemmi.SmallStructure with crystallographic occupancies: gemmi's calculator sums every symmetry
    #: operation over every site, so a site on a special position must carry occupancy / site multiplicity
    structure: Any
    cell_mass_u: float  # mass of the unit cell's contents, Z·M (u), from the chemical occupancies


def _phase(name: str, role: str, st) -> Phase:
    st.setup_cell_images()
    mass = float(sum(s.element.weight * s.occ for s in st.get_all_unit_cell_sites()))
    st.change_occupancies_to_crystallographic()
    return Phase(name, role, st, mass)


def cif_text(item: Mapping[str, Any]) -> str:
    """A minimal CIF of a phase declared by space group + cell (+ atoms): gemmi then sets up its symmetry."""
    c = item["cell"]
    a = float(c["a"])
    lines = [f"data_{item['name']}", f"_symmetry_space_group_name_H-M '{item['space_group']}'",
             f"_cell_length_a {a}", f"_cell_length_b {float(c.get('b', a))}", f"_cell_length_c {float(c.get('c', a))}",
             f"_cell_angle_alpha {float(c.get('alpha', 90))}", f"_cell_angle_beta {float(c.get('beta', 90))}",
             f"_cell_angle_gamma {float(c.get('gamma', 90))}", "loop_", "_atom_site_label", "_atom_site_type_symbol",
             "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z", "_atom_site_occupancy",
             "_atom_site_B_iso_or_equiv"]
    lines += [f"{t['label']} {t['element']} {t['x']} {t['y']} {t['z']} {t.get('occupancy', 1.0)} {t.get('b_iso', 0.5)}"
              for t in item.get("atoms", [])]
    return "\n".join(lines) + "\n"


def declared_phases(settings: Mapping[str, Any], base: Path) -> list[Phase]:
    """The phases of ``settings.sxpd.phases``; CIF paths relative to ``base`` (the campaign file's folder)."""
    import gemmi

    out = []
    for item in settings.get("phases", []):
        if item.get("cif"):
            st = gemmi.read_small_structure(str((base / item["cif"]).resolve()))
        else:
            st = gemmi.make_small_structure_from_block(gemmi.cif.read_string(cif_text(item)).sole_block())
        out.append(_phase(str(item["name"]), str(item.get("role", "secondary")), st))
    return out


def with_cell(phase: Phase, a: float, b: float, c: float) -> Phase:
    """The same atoms (fractional) in another orthogonal-axes cell of the same angles."""
    import gemmi

    st = phase.structure
    cell = st.cell
    st.cell = gemmi.UnitCell(a, b, c, cell.alpha, cell.beta, cell.gamma)
    st.setup_cell_images()
    return phase


def reflections(phase: Phase, d_min: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d in Å, Σ|F|² per distinct d, representative hkl) for d ≥ d_min, systematic absences removed."""
    import gemmi

    st = phase.structure
    sg = gemmi.find_spacegroup_by_name(st.spacegroup_hm)
    ops = sg.operations()
    hkl = gemmi.make_miller_array(st.cell, sg, d_min, 0, False)
    hkl = np.array([h for h in hkl.tolist() if any(h) and not ops.is_systematically_absent(h)], dtype=int)
    calc = gemmi.StructureFactorCalculatorX(st.cell)
    f2 = np.array([abs(calc.calculate_sf_from_small_structure(st, h)) ** 2 for h in hkl.tolist()])
    d = np.array([st.cell.calculate_d(h) for h in hkl.tolist()])
    keep = f2 > 1e-6 * f2.max()
    d, f2, hkl = d[keep], f2[keep], hkl[keep]
    key = np.round(d, 7)  # equivalents share d exactly; accidental overlaps sit at the same 2θ anyway
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    total = np.bincount(inverse, weights=f2)
    return d[first], total, np.abs(hkl[first])
