"""Rows of ``sxpd_phase_cells``: each declared phase's refined cell, scale and weight fraction in one pattern.

Scale: the least-squares factor S between the fitted (free) integrated areas of the phase's resolved
reflections and m·|F|²·LP from its atom sites (gemmi). Weight fraction (Hill & Howard, J. Appl.
Cryst. 20 (1987) 467): w_p = S_p·(ZMV)_p / Σ S_i·(ZMV)_i over the sample's phases (roles main and
secondary; the cell parts are not the sample), ZM the mass of the cell content, V the refined
volume. Every null carries its reason in ``quality_flags``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from tasks.sxpd.cell_fit import CellResult, CellsFit
from tasks.sxpd.crystallography import lorentz_polarisation
from tasks.sxpd.metric import cell_from_metric, metric_from_cell
from tasks.sxpd.phases import Phase, cell_mass

_CELL = ("a_angstrom", "b_angstrom", "c_angstrom", "alpha_deg", "beta_deg", "gamma_deg", "volume_angstrom3")
_SIGMA = ("a_sigma_angstrom", "b_sigma_angstrom", "c_sigma_angstrom", "alpha_sigma_deg", "beta_sigma_deg",
          "gamma_sigma_deg", "volume_sigma_angstrom3")


@lru_cache(maxsize=64)
def declared_volume(phase: Phase) -> float:
    return float(cell_from_metric(metric_from_cell(phase.cell))[6])


#: relative floor of an area's uncertainty, of the area the scale predicts: the profile model's own error
#: (overlap tails, background shape). Taken of the predicted area, not the fitted one: a degenerate
#: window (a width collapsed onto noise, area and σ both near 0) would otherwise outweigh every other
#: reflection — one such FePO4 line put a 22 % LiFePO4/FePO4 mixture at 13 %
AREA_SIGMA_FLOOR = 0.03


def phase_scale(peaks: dict[str, np.ndarray], f2: np.ndarray, mult: np.ndarray, name: str,
                outlier_sigma: float = 4.0) -> tuple[float, float] | None:
    """(S, σ_S) with area ≈ S·m|F|²LP from the phase's fitted, resolved reflections: weighted least
    squares from the median ratio, reflections further than ``outlier_sigma`` robust spreads from it
    rejected (an unrecognised overlap, a degenerate window); None when it has none with |F|²."""
    m = ((peaks["phase"] == name) & peaks["fitted"] & peaks["resolved"] & np.isfinite(peaks["area"])
         & np.isfinite(peaks["area_sigma"]) & (peaks["area_sigma"] > 0) & np.isfinite(f2) & (f2 > 0))
    if m.sum() < 1:
        return None
    area, area_sigma = peaks["area"][m], peaks["area_sigma"][m]
    calc = mult[m] * f2[m] * lorentz_polarisation(peaks["predicted_deg"][m])
    scale = float(np.median(area / calc))
    for _ in range(2):  # the σ floor follows the scale: once from the median, once from the first fit
        sigma = np.hypot(area_sigma, AREA_SIGMA_FLOOR * abs(scale) * calc)
        norm = np.abs(area - scale * calc) / sigma
        spread = max(1.4826 * float(np.median(norm)), 1.0)  # the normal-equivalent MAD of the residuals
        w = (norm < outlier_sigma * spread) / sigma**2
        wcc = float((w * calc**2).sum())
        scale = float((w * area * calc).sum() / wcc)
    chi2 = float((w * (area - scale * calc) ** 2).sum() / max(int((w > 0).sum()) - 1, 1))
    return scale, float(np.sqrt(max(chi2, 1.0) / wcc))


def weight_fractions(phases: tuple[Phase, ...], scales: dict[str, tuple[float, float] | None],
                     volumes: dict[str, float]) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """Hill–Howard fractions of the sample's phases, and a reason for every phase that gets none."""
    sample = [ph for ph in phases if ph.role != "cell_part"]
    reasons = {ph.name: "cell_part: not part of the sample, no weight fraction" for ph in phases if ph.role == "cell_part"}
    lacking = [ph.name for ph in sample if ph.structure is None or scales.get(ph.name) is None]
    if lacking:
        for ph in sample:
            reasons[ph.name] = ("no_atom_sites: weight fraction needs |F|² from atom sites" if ph.structure is None
                                else "no_resolved_reflections: no scale" if scales.get(ph.name) is None
                                else f"weight_fraction_undetermined: phase(s) {lacking} have no scale")
        return {}, reasons
    x = np.array([max(scales[ph.name][0], 0.0) * cell_mass(ph) * volumes[ph.name] for ph in sample])
    sx = np.array([scales[ph.name][1] * cell_mass(ph) * volumes[ph.name] for ph in sample])
    total = x.sum()
    if not total > 0:
        return {}, {**reasons, **{ph.name: "phase_not_observed: no phase of the sample has a positive scale"
                                  for ph in sample}}
    out = {}
    for i, ph in enumerate(sample):
        grad = -x[i] / total**2 * np.ones(len(x))
        grad[i] += 1.0 / total
        out[ph.name] = (float(x[i] / total), float(np.sqrt(((grad * sx) ** 2).sum())))
    return out, reasons


#: below this weight fraction a refined cell is flagged: measured on the olivine demo, cells of phases at
#: ~2 % came back 0.001–0.003 Å off while those at ≥ 5 % stayed within 0.0003 Å
MINOR_PHASE_FRACTION = 0.05


def _cell_columns(phase: Phase, cell: CellResult | None, flags: list[str]) -> dict[str, Any]:
    if cell is None:
        return {**dict.fromkeys(_CELL), **dict.fromkeys(_SIGMA)}
    return {**dict(zip(_CELL, map(float, cell.values))), **dict(zip(_SIGMA, map(float, cell.sigmas)))}


def phase_rows(phases: tuple[Phase, ...], cells: CellsFit | None, peaks: dict[str, np.ndarray], f2: np.ndarray,
               mult: np.ndarray, base: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per declared phase; ``base`` holds the pattern's own columns (scan number, time, ...)."""
    found = cells.cells if cells is not None else {}
    scales = {ph.name: phase_scale(peaks, f2, mult, ph.name) if ph.structure is not None else None for ph in phases}
    volumes = {ph.name: float(found[ph.name].values[6]) if ph.name in found else declared_volume(ph) for ph in phases}
    fractions, reasons = weight_fractions(phases, scales, volumes)
    rows = []
    for ph in phases:
        flags: list[str] = []
        if ph.fixed:
            flags.append("cell_not_refined: lines held at the declared cell (cell part of the default phases)")
        elif ph.name not in found:
            flags.append("phase_not_observed: too few resolved reflections for its free cell parameters")
        scale = scales[ph.name]
        if ph.structure is None:
            flags.append("no_atom_sites: no scale")
        elif scale is None:
            flags.append("no_resolved_reflections: no scale")
        if ph.name not in fractions:
            flags.append(reasons[ph.name])
        wf = fractions.get(ph.name, (None, None))
        if wf[0] is not None and wf[0] < MINOR_PHASE_FRACTION and ph.name in found:
            # a minor phase's few weak lines can be pulled by its neighbours' tails (0.001–0.003 Å at ~2 %)
            flags.append(f"minor_phase: weight fraction {wf[0]:.3f} < {MINOR_PHASE_FRACTION}; its cell rests on "
                         "few weak reflections, read it with care")
        rows.append({**base, "phase": ph.name, "role": ph.role, "space_group": ph.hm, "crystal_system": ph.crystal_system,
                     **_cell_columns(ph, found.get(ph.name), flags),
                     "scale": scale[0] if scale else None, "weight_fraction": wf[0], "weight_fraction_sigma": wf[1],
                     "n_reflections": int((peaks["used_in_lattice"] & (peaks["phase"] == ph.name)).sum()),
                     "quality_flags": "; ".join(dict.fromkeys(flags))})
    return rows


def legacy_cells(phases: tuple[Phase, ...], lattice) -> CellsFit | None:
    """The NCM (a, c) fit of the default path as a ``CellsFit`` of its main phase (R-3m: b = a, 90/90/120°)."""
    if lattice is None:
        return None
    values = np.array([lattice.a, lattice.a, lattice.c, 90.0, 90.0, 120.0, lattice.volume])
    sigmas = np.array([lattice.a_sigma, lattice.a_sigma, lattice.c_sigma, 0.0, 0.0, 0.0, lattice.volume_sigma])
    main = next(ph.name for ph in phases if ph.role == "main")
    return CellsFit(lattice.zero_shift, lattice.zero_shift_sigma, lattice.chi2_red, lattice.rms_residual_deg,
                    lattice.used, lattice.residual_deg, cells={main: CellResult(values, sigmas)})
