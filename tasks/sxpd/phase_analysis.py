"""Per-pattern analysis with declared phases (any crystal system): Pawley/Le Bail-style cells.

Positions come from each phase's cell (gemmi reflection list, ``metric``), intensities are free:
every window is fitted by the same batched LM as the NCM path (``analysis.fit_candidates``); the
cells of all phases and one zero shift are then refined together from the fitted positions
(``cell_fit``), and the next pass starts from them. Each phase's cell is first located by a
template search (``phase_search``: strongest phase first, each on the signal the located ones leave).
A phase with too few usable reflections for its free parameters is "not observed": null cell.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foundation.contract import UnreadableFile
from tasks.sxpd.analysis import (
    Instrument,
    analysed_range,
    fit_candidates,
    phase_widths,
    strain_and_peaks,
    usable_reflections,
)
from tasks.sxpd.cell_fit import CellsFit, fit_cells
from tasks.sxpd.crystallography import two_theta_deg
from tasks.sxpd.lattice import WilliamsonHall
from tasks.sxpd.metric import basis, coefficients, reflection_list, start_parameters
from tasks.sxpd.phase_search import line_strength, locate_phases
from tasks.sxpd.phases import Phase
from tasks.sxpd.search import excess


@dataclass
class PhasesAnalysis:
    cells: CellsFit | None
    strain: dict[str, WilliamsonHall]  # of the main phase's reflections
    peaks: dict[str, np.ndarray]
    f2: np.ndarray  # |F|² per reflection (NaN: phase without atom sites)
    multiplicity: np.ndarray
    n_groups: int
    n_iterations: int
    flags: list[str] = field(default_factory=list)


def _candidates(phases: tuple[Phase, ...], params_p: dict[str, np.ndarray], lam: float, d_min: float, lo: float,
                hi: float, min_rel: float) -> dict[str, Any]:
    """Reflections of every phase worth fitting inside (lo, hi), at the phases' current cells."""
    out: dict[str, list] = {k: [] for k in ("phase", "hkl", "pos", "f2", "mult", "index")}
    for i, ph in enumerate(phases):
        rl = reflection_list(ph, round(d_min * 0.97, 4))
        tt = two_theta_deg(1.0 / np.sqrt(rl.inv_d2(params_p[ph.name])), lam)
        inside = np.isfinite(tt) & (tt > lo) & (tt < hi)
        if not inside.any():
            continue
        strength = np.where(inside, line_strength(rl, tt), 0.0)
        sel = inside & (strength >= min_rel * strength.max())
        out["phase"] += [ph.name] * int(sel.sum())
        for key, values in (("hkl", rl.hkl[sel]), ("pos", tt[sel]),
                            ("f2", rl.f2[sel]), ("mult", rl.multiplicity[sel]), ("index", np.full(sel.sum(), i))):
            out[key].append(values)
    if not out["phase"]:
        return {"phase": np.array([], str), "hkl": np.zeros((0, 3), int), "pos": np.zeros(0)}
    return {"phase": np.array(out["phase"]), **{k: np.concatenate(v) for k, v in out.items() if k != "phase"}}


def _refine(phases: tuple[Phase, ...], current: dict[str, np.ndarray], cand: dict[str, Any], fit, usable: np.ndarray,
            lam: float, params: dict[str, Any]) -> CellsFit | None:
    """Joint cell fit of the phases with enough usable reflections for their free parameters."""
    blocks, rows = [], []
    for ph in phases:
        mine = usable & (cand["phase"] == ph.name)
        k = basis(ph).shape[0]
        design = coefficients(cand["hkl"][mine]) @ basis(ph).T
        if ph.fixed or mine.sum() < k + 1 or np.linalg.matrix_rank(design) < k:
            continue
        blocks.append((ph.name, design, current[ph.name], basis(ph)))
        idx = np.flatnonzero(mine)
        rows.append(idx)
    if not blocks:
        return None
    order = np.concatenate(rows)
    cf = fit_cells(blocks, fit.position[order], fit.position_sigma[order], lam,
                   bool(params["lattice"]["refine_zero_shift"]), float(params["lattice"]["outlier_sigma"]))
    if cf is not None:
        used = np.zeros(len(cand["pos"]), bool)
        resid = np.full(len(cand["pos"]), np.nan)
        used[order], resid[order] = cf.used, cf.residual_deg
        cf.used, cf.residual_deg = used, resid
    return cf


def analyse_phases(two_theta: np.ndarray, intensity: np.ndarray, sigma: np.ndarray, instrument: Instrument,
                   params: dict[str, Any], phases: tuple[Phase, ...]) -> PhasesAnalysis:
    peaks_cfg, lam = params["peaks"], instrument.wavelength_angstrom
    x, y, s, lo, hi = analysed_range(two_theta, intensity, sigma, instrument, peaks_cfg)
    d_min = lam / (2.0 * np.sin(np.radians(hi) / 2.0))
    signal = excess(x, y, float(peaks_cfg.get("background_window_deg", 0.6)), float(peaks_cfg.get("smooth_deg", 0.01)))
    search = params.get("phase_search", {})
    def widths(tt: np.ndarray, name: str) -> np.ndarray:
        return phase_widths(tt, np.full(len(tt), name), instrument, peaks_cfg, params.get("phases", {}))

    current = locate_phases(phases, x, signal, lam, d_min, search, widths, float(peaks_cfg["min_relative_intensity"]))
    flags: list[str] = []
    cells: CellsFit | None = None
    fwhm_known: dict[tuple, float] = {}
    for _ in range(int(search.get("passes", 2))):
        cand = _candidates(phases, current, lam, d_min, lo + 0.05, hi - 0.05, float(peaks_cfg["min_relative_intensity"]))
        if not len(cand["pos"]):
            raise UnreadableFile(f"no reflection of the declared phases {[ph.name for ph in phases]} falls inside the "
                                 f"analysed 2θ range {lo:g}–{hi:g}° at λ = {lam:g} Å: wrong phases or wavelength?")
        fixed = np.array([phases[i].fixed for i in cand["index"]], bool)
        fwhm0 = phase_widths(cand["pos"], cand["phase"], instrument, peaks_cfg, params.get("phases", {}))
        keys = list(zip(cand["phase"].tolist(), *cand["hkl"].T.tolist()))
        for i, key in enumerate(keys):
            if np.isfinite(fwhm_known.get(key, np.nan)):
                fwhm0[i] = fwhm_known[key]
        groups, fitted, fit = fit_candidates(x, y, s, cand["pos"], fwhm0, fixed, peaks_cfg)
        usable, crowded = usable_reflections(fit, fitted, ~fixed, cand["pos"], fwhm0, params)
        cells = _refine(phases, current, cand, fit, usable, lam, params)
        if cells is None:
            flags.append("lattice_underdetermined")
            break
        for ph in phases:
            if ph.name in cells.cells:
                current[ph.name] = start_parameters(ph, tuple(cells.cells[ph.name].values[:6]))
        fwhm_known = {k: f for k, f in zip(keys, fit.fwhm)}
    used = cells.used if cells is not None else np.zeros(len(cand["pos"]), bool)
    residual = cells.residual_deg if cells is not None else np.full(len(cand["pos"]), np.nan)
    main = next(ph.name for ph in phases if ph.role == "main") if any(ph.role == "main" for ph in phases) else ""
    strain, peaks = strain_and_peaks(fit, fitted, usable & (cand["phase"] == main), crowded, used, residual,
                                     cand["phase"], cand["hkl"], cand["pos"], instrument, params)
    return PhasesAnalysis(cells, strain, peaks, cand["f2"], cand["mult"], len(groups.lo), fit.n_iterations, flags)
