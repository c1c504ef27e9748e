"""Where each declared phase's lines are before fitting: a template search per phase, strongest first.

Fitting needs starting positions within about one width of the truth, so each phase's cell is first
located by the template score of its strongest reflections over an isotropic scale of its declared cell,
then over each axis length on its own (±``phase_search.scale_range_pct``). Two phases of one structure
type (LiFePO4 and FePO4: olivines 2–5 % apart in each axis) have lines a few widths apart, and a minor
phase's template searched on the whole pattern slides onto its neighbour's strong lines. So the phases
are located one at a time, the one whose template finds the most signal first, and every located phase's
lines are explained away (the signal at each line, in the shape of a peak, subtracted) before the next
one is searched. Phases held at their declared cell (cell parts) are explained away before any search.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tasks.sxpd.crystallography import lorentz_polarisation, two_theta_deg
from tasks.sxpd.metric import ReflectionList, basis, reflection_list, start_parameters
from tasks.sxpd.phases import Phase
from tasks.sxpd.search import template_score

#: a located line is explained this many (widened) widths either side: its pseudo-Voigt tail there is still
#: ~0.3 % of its height (0.8 % at ±4), as much as the lines of a 2 % phase beside it (at ±4 a 2 % FePO4 beside
#: LiFePO4 came back 0.003 Å off in a)
REACH_WIDTHS = 6.0
#: (2θ in deg, phase name) → starting FWHM (deg) of that phase's lines
Widths = Callable[[np.ndarray, str], np.ndarray]


def line_strength(rl: ReflectionList, tt: np.ndarray) -> np.ndarray:
    """m·|F|²·LP (m·LP without atom sites: every allowed reflection counts alike)."""
    f2 = np.where(np.isfinite(rl.f2), rl.f2, 1.0)
    return rl.multiplicity * f2 * lorentz_polarisation(np.where(np.isfinite(tt), tt, 90.0))


def _lines(phase: Phase, p: np.ndarray, lam: float, d_min: float) -> tuple[ReflectionList, np.ndarray, np.ndarray]:
    """(reflection list, 2θ, strength) of a phase at free metric parameters p; strength 0 out of reach."""
    rl = reflection_list(phase, round(d_min * 0.97, 4))
    tt = two_theta_deg(1.0 / np.sqrt(rl.inv_d2(p)), lam)
    return rl, tt, np.where(np.isfinite(tt), line_strength(rl, tt), 0.0)


def search_cell(phase: Phase, x: np.ndarray, signal: np.ndarray, lam: float, d_min: float,
                cfg: dict[str, Any]) -> tuple[np.ndarray, float]:
    """(free metric parameters, score per unit template weight) that best match ``signal`` near the
    declared cell: an isotropic scale, then (twice) each axis-length parameter on its own, so that a
    cell whose axes moved by different amounts (c/a of a layered oxide over a charge) is found too."""
    p = start_parameters(phase)
    rl, _, strength = _lines(phase, p, lam, d_min)
    top = np.argsort(-strength)[:int(cfg.get("n_reflections", 12))]
    if not strength[top].max(initial=0) > 0:
        return p, 0.0
    weight = np.sqrt(strength[top] / strength[top].max())
    r, step = float(cfg.get("scale_range_pct", 1.0)) / 100, float(cfg.get("scale_step_pct", 0.02)) / 100
    factor = (1.0 + np.arange(-r, r + step / 2, step)) ** -2.0  # g ∝ 1/length²
    design = rl.design[top]

    def best(trials: np.ndarray) -> tuple[np.ndarray, float]:
        tt = two_theta_deg(1.0 / np.sqrt(np.maximum(trials @ design.T, 1e-12)), lam)
        score = template_score(x, signal, tt, weight)
        i = int(np.argmax(score))
        return trials[i], float(score[i])

    p, score = best(p[None, :] * factor[:, None])
    # axis-length parameters only (a row of the basis on A, B or C): an off-diagonal one (a monoclinic
    # angle) is near zero and scaling it means nothing; the cell fit refines it from the positions
    lengths = [i for i, row in enumerate(basis(phase)) if row[:3].any()]
    for _ in range(2 if len(lengths) > 1 else 0):
        for i in lengths:
            trials = np.repeat(p[None, :], len(factor), axis=0)
            trials[:, i] *= factor
            p, score = best(trials)
    return p, score / float(weight.sum())


def explain_away(x: np.ndarray, signal: np.ndarray, tt: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """``signal`` less the located lines at ``tt``: each line's height (the highest signal within half a
    width of it) in a pseudo-Voigt shape a quarter wider than its starting width, so that a misjudged
    width or a position off by the search step leaves no flank for another phase's template to match."""
    inside = np.isfinite(tt) & (tt > x[0]) & (tt < x[-1])
    explained = np.zeros_like(signal)
    for centre, width in zip(tt[inside], 1.25 * fwhm[inside]):
        core = slice(*np.searchsorted(x, (centre - width / 2, centre + width / 2)))
        near = slice(*np.searchsorted(x, (centre - REACH_WIDTHS * width, centre + REACH_WIDTHS * width)))
        if core.stop <= core.start:
            continue
        height = signal[core].max()
        u = ((x[near] - centre) / (width / 2)) ** 2
        shape = 0.5 / (1.0 + u) + 0.5 * np.exp(-np.log(2.0) * u)
        np.maximum(explained[near], height * shape, out=explained[near])
    return np.maximum(signal - explained, 0.0)


def locate_phases(phases: tuple[Phase, ...], x: np.ndarray, signal: np.ndarray, lam: float, d_min: float,
                  cfg: dict[str, Any], widths: Widths, min_rel: float) -> dict[str, np.ndarray]:
    """Free metric parameters of every phase: fixed ones at their declared cell, the others searched
    strongest first (by their template score on the whole pattern), each on the signal its predecessors
    left unexplained."""
    found = {ph.name: start_parameters(ph) for ph in phases if ph.fixed}
    left = [ph for ph in phases if not ph.fixed]

    def remove(ph: Phase, residual: np.ndarray) -> np.ndarray:
        _, tt, strength = _lines(ph, found[ph.name], lam, d_min)
        keep = strength >= min_rel * strength.max(initial=0)
        return explain_away(x, residual, tt[keep], widths(tt[keep], ph.name)) if keep.any() else residual

    residual = signal
    for ph in phases:
        if ph.fixed:
            residual = remove(ph, residual)
    # the order from one search of each phase on the same signal; each one after the strongest is
    # searched again on what its predecessors left
    first = {ph.name: search_cell(ph, x, residual, lam, d_min, cfg) for ph in left}
    left.sort(key=lambda ph: -first[ph.name][1])
    for i, ph in enumerate(left):
        found[ph.name] = first[ph.name][0] if i == 0 else search_cell(ph, x, residual, lam, d_min, cfg)[0]
        if i + 1 < len(left):
            residual = remove(ph, residual)
    return {ph.name: found[ph.name] for ph in phases}
