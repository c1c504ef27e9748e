"""Powder patterns of spec-built phases by an independent path: gemmi's own d-spacings (UnitCell.calculate_d),
structure factors and symmetry, Gaussian lines — none of socscope's generator, reflection lists or cell code."""
from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np

CIF = Path(__file__).resolve().parents[1] / "data" / "cif" / "LiFePO4_Pnma.cif"
#: aluminium, Fm-3m, one site (CIF 1.1 core), for a second phase with atom sites
AL_CIF = """data_Al
_cell_length_a 4.0495
_cell_length_b 4.0495
_cell_length_c 4.0495
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'F m -3 m'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
_atom_site_B_iso_or_equiv
Al1 Al 0 0 0 1.0 0.5
"""


def phase_lines(structure: gemmi.SmallStructure, cell: gemmi.UnitCell, wavelength: float, tt_max: float):
    """(2θ, m·|F|²·LP) of every allowed reflection below ``tt_max``."""
    structure.setup_cell_images()
    structure.change_occupancies_to_crystallographic()
    calc = gemmi.StructureFactorCalculatorX(structure.cell)
    ops = structure.spacegroup.operations()
    d_min = wavelength / (2 * np.sin(np.radians(tt_max) / 2))
    for hkl in gemmi.make_miller_array(cell, structure.spacegroup, d_min, 0, True):
        hkl = [int(v) for v in hkl]
        star = {tuple(op.apply_to_hkl(hkl)) for op in ops.sym_ops}
        star |= {tuple(-v for v in m) for m in star}
        th = np.arcsin(wavelength / (2 * cell.calculate_d(hkl)))
        lp = 1 / (np.sin(th) ** 2 * np.cos(th))
        yield np.degrees(2 * th), len(star) * abs(calc.calculate_sf_from_small_structure(structure, hkl)) ** 2 * lp


def add_lines(x: np.ndarray, y: np.ndarray, lines, scale: float, fwhm: float = 0.02) -> None:
    """Gaussian lines of area scale·strength (counts·deg) added to ``y``."""
    sd = fwhm / 2.3548
    for tt, strength in lines:
        y += scale * strength * np.exp(-0.5 * ((x - tt) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)) * (x[1] - x[0])


def lfp_pattern(cell: tuple[float, ...], wavelength: float, seed: int = 0,
                al_a: float = 4.0495) -> tuple[np.ndarray, np.ndarray]:
    """2θ and Poisson counts: LiFePO4 at ``cell`` + Al foil lines + flat background."""
    x = np.arange(3.0, 36.0, 0.002)
    y = np.full_like(x, 200.0)
    add_lines(x, y, phase_lines(gemmi.read_small_structure(str(CIF)), gemmi.UnitCell(*cell), wavelength, 37.0), 0.05)
    al = gemmi.UnitCell(al_a, al_a, al_a, 90, 90, 90)
    for hkl in ([1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1], [2, 2, 2], [4, 0, 0]):
        tt = np.degrees(2 * np.arcsin(wavelength / (2 * al.calculate_d(hkl))))
        y += 3000 * np.exp(-0.5 * ((x - tt) / (0.012 / 2.3548)) ** 2)
    return x, np.random.default_rng(seed).poisson(y).astype(float)


def write_xye(path: Path, x: np.ndarray, y: np.ndarray, scan: int, start: str) -> None:
    head = [f"# scan_number: {scan}", "# sample: LFP-1", f"# start_time: {start}", "# counting_time_s: 10.0"]
    body = [f"{a:.3f} {b:.0f} {np.sqrt(max(b, 1.0)):.3f}" for a, b in zip(x, y)]
    path.write_text("\n".join(head + body) + "\n")


#: FePO4 (heterosite), P n m a: the delithiated olivine, spec-built with approximate site coordinates (the
#: Fe, P, O sites of the olivine frame, shifted as in published heterosite refinements); used only to check
#: that two overlapping olivine phases' weight fractions come back, not as a reference structure
FP_CIF = """data_FePO4
_cell_length_a 9.821
_cell_length_b 5.792
_cell_length_c 4.788
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'P n m a'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_B_iso_or_equiv
Fe1 Fe 0.2752 0.25 0.9475 0.5
P1 P 0.0943 0.25 0.3940 0.5
O1 O 0.1197 0.25 0.7070 0.5
O2 O 0.4405 0.25 0.1608 0.5
O3 O 0.1668 0.0447 0.2484 0.5
"""
