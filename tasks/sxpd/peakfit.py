"""Fit all reflection groups of a pattern at once: batched Levenberg–Marquardt with analytic Jacobian.

Reflections (of every phase) closer than a few widths are grouped; each group is fitted in its own
2θ window with a linear background, one split pseudo-Voigt per reflection, and a shared Lorentz
fraction and asymmetry. All windows are padded to a common length and solved together as a stack of
small normal-equation systems (grouped by the number of peaks, so a one-peak window is a 7×7
system, not one padded to the largest window), so a pattern costs a few vectorised iterations, not
one optimiser call per peak. A window stops iterating when its step is a small fraction of every
parameter's standard error or its χ² no longer moves. Positions of reflections flagged
``fixed_position`` (Al, Li: their positions come from their own lattices, Le Bail style) are not
refined; their areas and widths are.

This module groups the reflections and lays the results out per reflection; the parts of the fit:
``fit_windows`` (the windows' data, stacked and rebinned), ``fit_parameters`` (a window's
parameter vector: layout, starting values, bounds), ``window_model`` (model, Jacobian and normal
equations of many windows) and ``lm_batch`` (the Levenberg–Marquardt loop and the errors).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.sxpd.fit_parameters import N_GROUP_PARAMS, parameter_space, start_parameters
from tasks.sxpd.fit_windows import stack_windows
from tasks.sxpd.lm_batch import LMState, Tolerances, parameter_sigmas, solve
from tasks.sxpd.window_model import build_window_model, run_starts, size_classes


@dataclass
class PeakGroups:
    """Groups of candidate reflections, padded to ``max_peaks`` per group."""

    member: np.ndarray  # [G, K] index into the candidate list, -1 = padding
    lo: np.ndarray  # [G] window start (deg)
    hi: np.ndarray  # [G] window end (deg)


def group_reflections(position: np.ndarray, fwhm: np.ndarray, join_fwhm: float, half_window_fwhm: float,
                      max_peaks: int, clearance_fwhm: float = 2.0) -> tuple[PeakGroups, np.ndarray]:
    """Join reflections whose predicted positions lie within ``join_fwhm`` widths of the previous one.

    A window spans ``half_window_fwhm`` widths beyond its outer reflections but stops
    ``clearance_fwhm`` widths short of the nearest reflection of a neighbouring group, so that no
    window holds the core of a peak it does not model. Returns the groups and a boolean per
    candidate: False where its group would exceed ``max_peaks`` (crowded regions are skipped
    rather than fitted badly).
    """
    order = np.argsort(position)
    pos, wid = position[order], fwhm[order]
    gap = np.diff(pos) > join_fwhm * np.maximum(wid[1:], wid[:-1])
    labels = np.concatenate([[0], np.cumsum(gap)])
    counts = np.bincount(labels)
    first = run_starts(counts)
    last = first + counts - 1
    # the widest member sets the window reach; neighbours' cores bound it
    widest = np.maximum.reduceat(wid, first)
    lo = pos[first] - half_window_fwhm * widest
    hi = pos[last] + half_window_fwhm * widest
    prev_edge = np.concatenate([[-np.inf], pos[last[:-1]] + clearance_fwhm * wid[last[:-1]]])
    next_edge = np.concatenate([pos[first[1:]] - clearance_fwhm * wid[first[1:]], [np.inf]])
    lo, hi = np.maximum(lo, prev_edge), np.minimum(hi, next_edge)
    ok_group = counts <= max_peaks
    fitted = np.zeros(len(position), dtype=bool)
    fitted[order] = ok_group[labels]
    keep = np.flatnonzero(ok_group)
    slot = np.arange(len(pos)) - first[labels]
    member = np.full((len(counts), max_peaks), -1, dtype=np.int64)
    sel = ok_group[labels]
    member[labels[sel], slot[sel]] = order[sel]
    return PeakGroups(member[keep], lo[keep], hi[keep]), fitted


@dataclass
class FitResult:
    position: np.ndarray
    position_sigma: np.ndarray
    fwhm: np.ndarray
    fwhm_sigma: np.ndarray
    area: np.ndarray
    area_sigma: np.ndarray
    eta: np.ndarray  # per candidate (its group's value)
    alpha: np.ndarray
    group: np.ndarray  # group index per candidate, -1 if not fitted
    group_chi2_red: np.ndarray  # per candidate (its group's value)
    converged: np.ndarray
    n_iterations: int


def _fit_bucket(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, groups: PeakGroups,
                position0: np.ndarray, fwhm0: np.ndarray, fixed_position: np.ndarray,
                asymmetric: np.ndarray, eta0: float = 0.5, max_iterations: int = 40,
                position_slack_fwhm: float = 1.5, fwhm_bounds: tuple[float, float] = (0.2, 5.0),
                max_points: int = 160, tolerance: float = 1e-7,
                step_tolerance_sigma: float = 0.01, linear_start: bool = True) -> FitResult:
    """Fit every group of one bucket simultaneously (see ``fit_groups``; groups sorted by size).

    ``position0``/``fwhm0``: starting values per candidate; ``fixed_position``: candidates whose
    position is held; ``asymmetric`` per group: refine α (else α = 0). Widths stay within
    ``fwhm_bounds`` × their start and positions within ``position_slack_fwhm`` widths of the start.
    """
    windows = stack_windows(x, y, sigma, groups.lo, groups.hi, max_points)
    present = groups.member >= 0
    m = np.where(present, groups.member, 0)
    x0, h0 = position0[m].copy(), fwhm0[m].copy()
    position_free = ~fixed_position[m]
    p = start_parameters(x, y, windows, groups.lo, groups.hi, present, x0, h0, eta0)
    space = parameter_space(present, position_free, asymmetric, x0, h0, position_slack_fwhm, fwhm_bounds)
    xc = windows.x - (0.5 * (groups.lo + groups.hi))[:, None]
    n_peaks = present.sum(axis=1)
    model = build_window_model(windows, xc, present, position_free, asymmetric,
                               size_classes(n_peaks, groups.member.shape[1]))
    dof = np.maximum(windows.valid.sum(axis=1) - space.free.sum(axis=1), 1)
    state, iterations = solve(model, p, space, n_peaks, dof, Tolerances(tolerance, step_tolerance_sigma),
                              max_iterations, linear_start)
    sig, chi2_red = parameter_sigmas(model, state, space.free, dof)
    return _per_candidate(groups, len(position0), state, sig, chi2_red, iterations)


def _per_candidate(groups: PeakGroups, n_candidates: int, state: LMState, sig: np.ndarray, chi2_red: np.ndarray,
                   iterations: int) -> FitResult:
    """The fitted [G, P] parameters and errors laid out per candidate reflection (NaN: not fitted)."""
    G, K = groups.member.shape
    p = state.params
    pk = p[:, N_GROUP_PARAMS:].reshape(G, K, 3)
    sk = sig[:, N_GROUP_PARAMS:].reshape(G, K, 3)
    out = {name: np.full(n_candidates, np.nan) for name in
           ("position", "position_sigma", "fwhm", "fwhm_sigma", "area", "area_sigma", "eta", "alpha", "chi2")}
    group_of = np.full(n_candidates, -1)
    conv = np.zeros(n_candidates, dtype=bool)
    gi, ki = np.nonzero(groups.member >= 0)
    cand = groups.member[gi, ki]
    for j, name in enumerate(("position", "fwhm", "area")):
        out[name][cand] = pk[gi, ki, j]
        out[f"{name}_sigma"][cand] = sk[gi, ki, j]
    out["eta"][cand] = p[gi, 2]
    out["alpha"][cand] = p[gi, 3]
    out["chi2"][cand] = chi2_red[gi]
    group_of[cand] = gi
    conv[cand] = state.converged[gi]
    return FitResult(out["position"], out["position_sigma"], out["fwhm"], out["fwhm_sigma"], out["area"],
                     out["area_sigma"], out["eta"], out["alpha"], group_of, out["chi2"], conv, iterations)


#: groups are solved in buckets of similar size so that padding to the largest costs little
BUCKETS = ((1, 1000),)


def fit_groups(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, groups: PeakGroups, position0: np.ndarray,
               fwhm0: np.ndarray, fixed_position: np.ndarray, asymmetric: np.ndarray, **options) -> FitResult:
    """Fit every group: one batched Levenberg–Marquardt solve per bucket of groups of similar size.

    ``position0``/``fwhm0``: starting values per candidate; ``fixed_position``: candidates whose
    position is held; ``asymmetric`` per group: refine α (else α = 0). Widths stay within
    ``fwhm_bounds`` × their start and positions within ``position_slack_fwhm`` widths of the start.
    """
    n_members = (groups.member >= 0).sum(axis=1)
    merged: FitResult | None = None
    iterations = 0
    for k_lo, k_hi in BUCKETS:
        sel = np.flatnonzero((n_members >= k_lo) & (n_members <= k_hi))
        sel = sel[np.argsort(n_members[sel], kind="stable")]  # by size: see window_model.size_classes
        if not len(sel):
            continue
        k = int(n_members[sel].max())
        sub = PeakGroups(groups.member[sel, :k], groups.lo[sel], groups.hi[sel])
        part = _fit_bucket(x, y, sigma, sub, position0, fwhm0, fixed_position, asymmetric[sel], **options)
        iterations = max(iterations, part.n_iterations)
        part.group = np.where(part.group >= 0, sel[np.maximum(part.group, 0)], -1)
        if merged is None:
            merged = part
            continue
        take = part.group >= 0
        for name in ("position", "position_sigma", "fwhm", "fwhm_sigma", "area", "area_sigma", "eta", "alpha",
                     "group", "group_chi2_red", "converged"):
            getattr(merged, name)[take] = getattr(part, name)[take]
    if merged is None:
        nan = np.full(len(position0), np.nan)
        return FitResult(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                         np.full(len(position0), -1), nan.copy(), np.zeros(len(position0), bool), 0)
    merged.n_iterations = iterations
    return merged
