"""Reflection lists and Bragg geometry for the phases an operando NCM622/Li cell shows.

NCM622 is R-3m (hexagonal setting, obverse: -h + k + l = 3n); the Si standard is Fd-3m, the Al
current collector Fm-3m and the Li counter electrode Im-3m. Intensities come from a kinematic
structure factor with constant-plus-Gaussian atomic form factors: good enough to decide which
reflections are worth fitting and to draw demo patterns, not a Rietveld model.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from foundation.contract import UnreadableFile

#: approximate X-ray form factors at sin(theta)/lambda = s: f(s) = z * exp(-b s^2) + small constant
_FORM = {"Li": (3.0, 6.0), "Ni": (28.0, 1.6), "Co": (27.0, 1.6), "Mn": (25.0, 1.7), "O": (8.0, 3.5),
         "Si": (14.0, 2.2), "Al": (13.0, 2.4)}

SI_A_ANGSTROM = 5.431
AL_A_ANGSTROM = 4.0495
LI_A_ANGSTROM = 3.51


def form_factor(element: str, s: np.ndarray) -> np.ndarray:
    z, b = _FORM[element]
    return z * np.exp(-b * s**2)


def two_theta_deg(d_angstrom: np.ndarray, wavelength_angstrom: float) -> np.ndarray:
    """Bragg angle 2θ (deg) of spacings d; NaN where the reflection is out of reach (λ > 2d)."""
    ratio = wavelength_angstrom / (2.0 * np.asarray(d_angstrom, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.degrees(2.0 * np.arcsin(np.where(ratio <= 1.0, ratio, np.nan)))


def d_hexagonal(h, k, l, a: float | np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """1/d² = 4/3·(h² + hk + k²)/a² + l²/c² (returns d in Å)."""
    inv = 4.0 / 3.0 * (h**2 + h * k + k**2) / np.asarray(a) ** 2 + np.asarray(l) ** 2 / np.asarray(c) ** 2
    return 1.0 / np.sqrt(inv)


def d_cubic(h, k, l, a: float) -> np.ndarray:
    return a / np.sqrt(h**2 + k**2 + l**2)


@dataclass(frozen=True)
class Reflections:
    """One row per distinct reflection (symmetry-equivalent hkl merged), sorted by d descending."""

    phase: str
    h: np.ndarray
    k: np.ndarray
    l: np.ndarray
    d_angstrom: np.ndarray
    #: multiplicity × |F|² (electrons²), no Lorentz-polarisation factor
    intensity: np.ndarray

    def __len__(self) -> int:
        return len(self.d_angstrom)

    @property
    def labels(self) -> list[str]:
        return [hkl_label(*t) for t in zip(self.h, self.k, self.l)]


def hkl_label(h: int, k: int, l: int) -> str:
    parts = [int(h), int(k), int(l)]
    if all(0 <= p <= 9 for p in parts):
        return "".join(str(p) for p in parts)
    return " ".join(str(p) for p in parts)


def _merge(phase: str, hkl: np.ndarray, d: np.ndarray, f2: np.ndarray, d_min: float) -> Reflections:
    if not f2.size:
        raise UnreadableFile(f"no {phase} reflection has d ≥ {d_min:.3g} Å, the shortest spacing the pattern's "
                             "2θ range reaches: the scan ends too low in 2θ to analyse this phase")
    keep = (d >= d_min) & (f2 > 1e-6 * f2.max())
    hkl, d, f2 = hkl[keep], d[keep], f2[keep]
    key = np.round(1.0 / d**2, 9)
    uniq, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=f2)
    # representative index: the conventional label, i.e. fewest negative indices, then largest h, k, l
    score = -(hkl < 0).sum(axis=1) * 1e9 + hkl[:, 0] * 1e6 + hkl[:, 1] * 1e3 + hkl[:, 2]
    order = np.lexsort((-score, inverse))
    first = order[np.r_[True, inverse[order][1:] != inverse[order][:-1]]]
    rep = hkl[first]
    d_u = 1.0 / np.sqrt(uniq)
    idx = np.argsort(-d_u)
    return Reflections(phase, rep[idx, 0], rep[idx, 1], rep[idx, 2], d_u[idx], total[idx])


def _hkl_box(n: int) -> np.ndarray:
    r = np.arange(-n, n + 1)
    g = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    return g[np.any(g != 0, axis=1)]


def _structure_factor_sq(hkl: np.ndarray, sites: list[tuple[str, tuple[float, float, float], float]],
                         centring: list[tuple[float, float, float]], s: np.ndarray) -> np.ndarray:
    f = np.zeros(len(hkl), dtype=complex)
    for element, xyz, occ in sites:
        ff = form_factor(element, s) * occ
        for t in centring:
            pos = np.add(xyz, t)
            f += ff * np.exp(2j * np.pi * hkl @ pos)
    return np.abs(f) ** 2


def ncm_reflections(a: float, c: float, d_min: float, oxygen_z: float = 0.2414) -> Reflections:
    """R-3m LiMO2 (M = Ni0.6Co0.2Mn0.2 on 3a, Li on 3b, O on 6c) at lattice (a, c).

    The reflection list and |F|² are computed once per (rounded) cell and d_min and cached; only
    the spacings are recomputed for the requested lattice, so a pattern pays microseconds.
    """
    base = _ncm_cached(round(a, 2), round(c, 1), round(d_min * 0.98, 3), oxygen_z)
    d = d_hexagonal(base.h, base.k, base.l, a, c)
    keep = d >= d_min
    order = np.argsort(-d[keep])
    return Reflections("NCM", base.h[keep][order], base.k[keep][order], base.l[keep][order], d[keep][order],
                       base.intensity[keep][order])


@lru_cache(maxsize=64)
def _ncm_cached(a: float, c: float, d_min: float, oxygen_z: float) -> Reflections:
    n = int(np.ceil(c / d_min)) + 1
    nh = int(np.ceil(a / d_min)) + 1
    r, rl = np.arange(-nh, nh + 1), np.arange(-n, n + 1)
    g = np.stack(np.meshgrid(r, r, rl, indexing="ij"), axis=-1).reshape(-1, 3)
    g = g[np.any(g != 0, axis=1)]
    g = g[(-g[:, 0] + g[:, 1] + g[:, 2]) % 3 == 0]
    d = d_hexagonal(g[:, 0], g[:, 1], g[:, 2], a, c)
    g, d = g[d >= d_min], d[d >= d_min]
    s = 1.0 / (2.0 * d)
    centring = [(0, 0, 0), (2 / 3, 1 / 3, 1 / 3), (1 / 3, 2 / 3, 2 / 3)]
    metal = [("Ni", (0, 0, 0), 0.6), ("Co", (0, 0, 0), 0.2), ("Mn", (0, 0, 0), 0.2)]
    sites = metal + [("Li", (0, 0, 0.5), 1.0), ("O", (0, 0, oxygen_z), 1.0), ("O", (0, 0, -oxygen_z), 1.0)]
    f2 = _structure_factor_sq(g.astype(float), sites, centring, s)
    return _merge("NCM", g, d, f2, d_min)


@lru_cache(maxsize=64)
def cubic_reflections(phase: str, element: str, a: float, lattice: str, d_min: float) -> Reflections:
    """Cubic element phase: lattice 'fcc' (Al), 'bcc' (Li) or 'diamond' (Si)."""
    g = _hkl_box(int(np.ceil(a / d_min)) + 1)
    d = d_cubic(g[:, 0], g[:, 1], g[:, 2], a)
    g, d = g[d >= d_min], d[d >= d_min]
    s = 1.0 / (2.0 * d)
    centring = {"fcc": [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)],
                "bcc": [(0, 0, 0), (.5, .5, .5)],
                "diamond": [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0)]}[lattice]
    sites = [(element, (0, 0, 0), 1.0)]
    if lattice == "diamond":
        sites.append((element, (.25, .25, .25), 1.0))
    f2 = _structure_factor_sq(g.astype(float), sites, centring, s)
    return _merge(phase, g, d, f2, d_min)


def silicon_reflections(d_min: float) -> Reflections:
    return cubic_reflections("Si", "Si", SI_A_ANGSTROM, "diamond", d_min)


def lorentz_polarisation(two_theta: np.ndarray) -> np.ndarray:
    """Debye–Scherrer Lorentz factor with synchrotron (horizontal, ~fully polarised) beam."""
    th = np.radians(two_theta) / 2.0
    return 1.0 / (np.sin(th) ** 2 * np.cos(th))
