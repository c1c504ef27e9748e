"""Reflection lists of any phase (gemmi) and the reciprocal metric tensor its cell is refined on.

1/d² = A h² + B k² + C l² + D kl + E hl + F hk, g = (A, B, C, D, E, F) the reciprocal metric tensor
(G*₁₁, G*₂₂, G*₃₃, 2G*₂₃, 2G*₁₃, 2G*₁₂). The crystal system constrains g to a subspace: g = p·basis
with p the free parameters (1 for cubic … 6 for triclinic), so 1/d² is linear in p and one fit
serves every crystal system. Reflections: gemmi's unique (systematic absences removed) Miller
indices, multiplicity from the symmetry operations (+ Friedel), |F|² from gemmi's X-ray structure
factor calculator when the phase has atom sites.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import gemmi
import numpy as np

from tasks.sxpd.phases import Phase

_E = np.eye(6)
#: free directions of g per crystal system (rows)
_BASES = {
    "cubic": np.array([[1, 1, 1, 0, 0, 0]], float),
    "tetragonal": np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]], float),
    "hexagonal": np.array([[1, 1, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0]], float),
    "rhombohedral": np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], float),
    "orthorhombic": _E[:3],
    "monoclinic-a": _E[[0, 1, 2, 3]],
    "monoclinic-b": _E[[0, 1, 2, 4]],
    "monoclinic-c": _E[[0, 1, 2, 5]],
    "triclinic": _E,
}


def basis(phase: Phase) -> np.ndarray:
    system = phase.crystal_system
    if system == "trigonal":
        system = "rhombohedral" if phase.space_group.ext == "R" else "hexagonal"
    elif system == "monoclinic":
        system = f"monoclinic-{phase.space_group.monoclinic_unique_axis()}"
    return _BASES[system]


def metric_from_cell(cell: tuple[float, ...]) -> np.ndarray:
    a, b, c = cell[:3]
    ca, cb, cg = (np.cos(np.radians(x)) for x in cell[3:])
    g = np.array([[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]])
    gs = np.linalg.inv(g)
    return np.array([gs[0, 0], gs[1, 1], gs[2, 2], 2 * gs[1, 2], 2 * gs[0, 2], 2 * gs[0, 1]])


def cell_from_metric(g: np.ndarray) -> np.ndarray:
    """(a, b, c, α, β, γ, V) from g."""
    gs = np.array([[g[0], g[5] / 2, g[4] / 2], [g[5] / 2, g[1], g[3] / 2], [g[4] / 2, g[3] / 2, g[2]]])
    m = np.linalg.inv(gs)
    a, b, c = np.sqrt(np.diag(m))

    def clip(cosine: float) -> float:
        return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))

    return np.array([a, b, c, clip(m[1, 2] / (b * c)), clip(m[0, 2] / (a * c)), clip(m[0, 1] / (a * b)),
                     np.sqrt(np.linalg.det(m))])


def start_parameters(phase: Phase, cell: tuple[float, ...] | None = None) -> np.ndarray:
    """Free parameters p of a cell (least-squares projection of its g on the crystal system's subspace)."""
    return np.linalg.lstsq(basis(phase).T, metric_from_cell(cell or phase.cell), rcond=None)[0]


def coefficients(hkl: np.ndarray) -> np.ndarray:
    h, k, l = (hkl[:, i].astype(float) for i in range(3))
    return np.column_stack([h * h, k * k, l * l, k * l, h * l, h * k])


@dataclass(frozen=True)
class ReflectionList:
    """Unique reflections of a phase: indices, multiplicity, |F|² (NaN without atom sites), 1/d² design."""

    hkl: np.ndarray
    multiplicity: np.ndarray
    f2: np.ndarray
    design: np.ndarray  # [n, k]: 1/d² = design @ p

    def inv_d2(self, p: np.ndarray) -> np.ndarray:
        return self.design @ p


def _multiplicity(ops: gemmi.GroupOps, hkl: list[int]) -> int:
    star = set()
    for op in ops.sym_ops:
        m = tuple(op.apply_to_hkl(hkl))
        star.add(m)
        star.add(tuple(-v for v in m))
    return len(star)


@lru_cache(maxsize=64)
def reflection_list(phase: Phase, d_min: float) -> ReflectionList:
    """All allowed reflections with d ≥ d_min at the declared cell (callers ask a margin below their own
    d_min so that a refined cell a few per cent off keeps its list)."""
    cell = gemmi.UnitCell(*phase.cell)
    hkl = np.asarray(gemmi.make_miller_array(cell, phase.space_group, d_min, 0, True), dtype=int).reshape(-1, 3)
    ops = phase.space_group.operations()
    mult = np.array([_multiplicity(ops, list(map(int, r))) for r in hkl], dtype=float)
    if phase.structure is not None:
        calc = gemmi.StructureFactorCalculatorX(phase.structure.cell)
        f2 = np.array([abs(calc.calculate_sf_from_small_structure(phase.structure, list(map(int, r)))) ** 2
                       for r in hkl])
    else:
        f2 = np.full(len(hkl), np.nan)
    design = coefficients(hkl) @ basis(phase).T
    out = ReflectionList(hkl, mult, f2, design)
    for values in (out.hkl, out.multiplicity, out.f2, out.design):
        values.flags.writeable = False  # shared by every pattern through the cache
    return out


@lru_cache(maxsize=4096)
def _f2_mult(phase: Phase, hkl: tuple[int, int, int]) -> tuple[float, float]:
    mult = float(_multiplicity(phase.space_group.operations(), list(hkl)))
    if phase.structure is None:
        return float("nan"), mult
    calc = gemmi.StructureFactorCalculatorX(phase.structure.cell)
    return abs(calc.calculate_sf_from_small_structure(phase.structure, list(hkl))) ** 2, mult


def f2_and_multiplicity(phase: Phase, hkl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|F|² and multiplicity of given reflections (any representative of their star)."""
    hkl = np.ascontiguousarray(hkl, dtype=np.int64)
    return _f2_mult_many(phase, hkl.tobytes())


@lru_cache(maxsize=256)
def _f2_mult_many(phase: Phase, hkl_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The same reflection list recurs pattern after pattern: one cache look-up for all of them."""
    hkl = np.frombuffer(hkl_bytes, dtype=np.int64).reshape(-1, 3)
    out = np.array([_f2_mult(phase, (int(h), int(k), int(l))) for h, k, l in hkl]).reshape(-1, 2)
    f2, mult = out[:, 0].copy(), out[:, 1].copy()
    f2.flags.writeable = mult.flags.writeable = False
    return f2, mult
