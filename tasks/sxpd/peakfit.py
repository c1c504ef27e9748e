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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.sxpd.profiles import split_pseudo_voigt_flat

#: parameter layout inside a group: background (2), eta, alpha, then (x0, fwhm, area) per peak
N_GROUP_PARAMS = 4


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
    first = _run_starts(counts)
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


def _windows(x: np.ndarray, y: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray, max_points: int):
    """Stack the data of every window into [G, N] arrays padded with zero weight.

    A window wider than ``max_points`` samples is rebinned (means of m adjacent points, σ/√m).
    Returns bin centres (mean 2θ), the spread of each bin's 2θ about its centre (the standard
    deviation of m points of the local step: the model averages the profile over it, see
    ``bin_nodes``), mean intensities, weights 1/σ and the mask of real bins.
    """
    i0 = np.searchsorted(x, lo)
    i1 = np.searchsorted(x, hi)
    length = np.maximum(i1 - i0, 1)
    m = np.maximum(1, -(-length // max_points))  # points per bin, per window
    nbins = -(-length // m)
    n = int(nbins.max())
    # every bin is a run of consecutive samples: its sums come from one ``add.reduceat`` over the
    # span the windows cover, with the runs' starts and ends interleaved (the odd segments, the
    # gaps between runs, are dropped), instead of a [window, bin, point] gather (a difference of
    # cumulative sums is 4× slower: cumsum does not vectorise)
    a = int(min(i0.min(), len(x) - 1))
    b = int(min(max(i1.max(), a + 1), len(x)))
    L = b - a
    start = np.minimum(i0[:, None] + np.arange(n)[None, :] * m[:, None], i1[:, None])
    end = np.minimum(start + m[:, None], i1[:, None])
    cnt = end - start
    valid = cnt > 0
    safe = np.maximum(cnt, 1).astype(np.float64)
    st, en = (start - a).ravel(), (end - a).ravel()
    idx = np.stack([np.minimum(st, L - 1), np.minimum(en, L - 1)], axis=1).ravel()
    # a run reaching the span's end stops one short in ``idx``: its last sample is added back
    tail = np.flatnonzero((en == L) & (st < L - 1))
    sums = []
    for arr in (x[a:b], y[a:b], s[a:b] * s[a:b]):
        total = np.add.reduceat(arr, idx)[::2]
        total[tail] += arr[L - 1]
        sums.append(total.reshape(start.shape))
    xs = np.where(valid, sums[0] / safe, 0.0)
    ys = np.where(valid, sums[1] / safe, 0.0)
    var = np.where(valid, sums[2] / safe**2, 0.0)
    xs = np.where(valid, xs, xs[:, :1])
    weight = np.where(valid & (var > 0), 1.0 / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    first_x, last_x = x[np.minimum(start, len(x) - 1)], x[np.clip(end - 1, 0, len(x) - 1)]
    spread = (last_x - first_x) / np.maximum(cnt - 1, 1) * np.sqrt(np.maximum(cnt * cnt - 1, 0) / 12.0)
    return xs, spread, ys, weight, valid


def bin_nodes(centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Two points per bin, centre ± spread, interleaved along the last axis: [..., 2N].

    A bin's mean intensity is the mean of the profile over the bin's samples, not its value at
    the centre (fitting that reads every width too large by 0.2–0.5·(b/H)², b the bin width:
    0.4–0.9 % at 8 bins per FWHM, and moves an asymmetric peak's mode by up to 1 % of H). Two
    points at the centre ± the bins' standard deviation have the bin's mean, variance and (zero)
    skewness, so their mean equals the bin mean up to the profile's fourth derivative: at ~3 bins
    per FWHM widths come out within 0.25 % and modes within 0.1 % of H (noiseless test profiles).
    """
    return np.stack([centre - spread, centre + spread], axis=-1).reshape(*centre.shape[:-1], -1)


def _pair_sums(values: np.ndarray) -> np.ndarray:
    """Sum of the two node values of every bin: [F, 2N] → [F, N]."""
    return values[:, 0::2] + values[:, 1::2]


def _membership(window_of_peak: np.ndarray, n_windows: int) -> np.ndarray:
    """[windows, peaks] matrix of ½ where a peak belongs to a window: sums over each window's
    peaks (and the ½ of the two-node bin mean, ``bin_nodes``) as one BLAS product; reduceat along
    the peak axis goes through numpy's buffered iterator and is several times slower."""
    member = np.zeros((n_windows, len(window_of_peak)))
    member[window_of_peak, np.arange(len(window_of_peak))] = 0.5
    return member


def _run_starts(lengths: np.ndarray) -> np.ndarray:
    """Index of each run's first element when runs of ``lengths`` are laid end to end."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]])


def _pinv_diagonal(m: np.ndarray) -> np.ndarray:
    """Diagonal of ``np.linalg.pinv(m)`` for a stack of symmetric positive semi-definite matrices.

    A parameter with an all-zero row and column (e.g. the position of a peak whose area went to
    zero: no position information) is decoupled, and ``pinv`` gives it zero variance; it is set
    aside and the rest is inverted directly. A matrix whose inverse does not check out
    (numerically singular beyond that) gets the exact ``pinv`` treatment: eigenvalues below
    1e-15 × the largest dropped. The check needs only diagonals: for a positive definite matrix
    1 ≤ A_ii·(A⁻¹)_ii, and the product is the variance inflation of parameter i by its correlations
    with the others; above 1e10 (or below 1, or not finite) the direct inverse is not trusted.
    """
    n = m.shape[-1]
    d = np.einsum("gpp->gp", m)
    dead = d == 0
    work = m + dead[:, :, None] * np.eye(n)[None]
    try:
        inv_diag = np.einsum("gpp->gp", np.linalg.inv(work))
        inflation = inv_diag * np.where(dead, 1.0, d)
        ok = (np.isfinite(inflation) & (inflation > 1.0 - 1e-6) & (inflation < 1e10)).all(axis=1)
    except np.linalg.LinAlgError:
        inv_diag, ok = np.zeros_like(d), np.zeros(len(m), dtype=bool)
    out = np.where(dead, 0.0, inv_diag)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        vals, vecs = np.linalg.eigh(m[bad])
        s = np.abs(vals)
        large = s > 1e-15 * s.max(axis=-1, keepdims=True)
        inv_s = np.divide(1.0, s, out=np.zeros_like(s), where=large)
        out[bad] = np.einsum("gij,gj,gij->gi", vecs, inv_s, vecs)
    return out


def _fit_bucket(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, groups: PeakGroups,
                position0: np.ndarray, fwhm0: np.ndarray, fixed_position: np.ndarray,
                asymmetric: np.ndarray, eta0: float = 0.5, max_iterations: int = 40,
                position_slack_fwhm: float = 1.5, fwhm_bounds: tuple[float, float] = (0.2, 5.0),
                max_points: int = 160, tolerance: float = 1e-7,
                step_tolerance_sigma: float = 0.01, linear_start: bool = True) -> FitResult:
    """Fit every group of one bucket simultaneously (see ``fit_groups``).

    ``position0``/``fwhm0``: starting values per candidate; ``fixed_position``: candidates whose
    position is held; ``asymmetric`` per group: refine α (else α = 0). Widths stay within
    ``fwhm_bounds`` × their start and positions within ``position_slack_fwhm`` widths of the start.
    """
    G, K = groups.member.shape
    ncand = len(position0)
    xs, spread, ys, wts, valid = _windows(x, y, sigma, groups.lo, groups.hi, max_points)
    present = groups.member >= 0
    m = np.where(present, groups.member, 0)
    centre = 0.5 * (groups.lo + groups.hi)
    xc = xs - centre[:, None]

    # starting values: straight background through the window ends, areas from the peak heights
    edge = max(2, xs.shape[1] // 20)
    n_valid = valid.sum(axis=1)
    last = np.maximum(n_valid - 1, 0)
    right_idx = np.clip(last[:, None] - np.arange(edge)[None, :], 0, None)
    # medians of the few edge points (np.median's overhead is ~10× a sort of [G, edge])
    ends = np.sort(np.concatenate([ys[:, :edge], np.take_along_axis(ys, right_idx, axis=1)], axis=1)
                   .reshape(G, 2, edge), axis=2)
    left_bg, right_bg = 0.5 * (ends[:, :, (edge - 1) // 2] + ends[:, :, edge // 2]).T
    span = np.maximum(groups.hi - groups.lo, 1e-9)
    b1 = (right_bg - left_bg) / span
    b0 = 0.5 * (left_bg + right_bg)
    x0 = position0[m].copy()
    h0 = fwhm0[m].copy()
    peak_idx = np.clip(np.searchsorted(x, x0), 0, len(x) - 1)
    bg_at = b0[:, None] + b1[:, None] * (x0 - centre[:, None])
    height = np.clip(y[peak_idx] - bg_at, 0.0, None)
    # overlapping peaks share the observed height: divide by the number of close neighbours
    close = (np.abs(x0[:, :, None] - x0[:, None, :]) < h0[:, :, None]) & present[:, None, :] & present[:, :, None]
    height = height / np.maximum(close.sum(axis=2), 1)
    a0 = height * 0.5 * h0 * (eta0 * np.pi + (1 - eta0) * np.sqrt(np.pi / np.log(2.0)))
    p = np.concatenate([b0[:, None], b1[:, None], np.full((G, 1), eta0), np.zeros((G, 1)),
                        np.stack([x0, h0, a0], axis=2).reshape(G, 3 * K)], axis=1)
    free = np.ones_like(p, dtype=bool)
    free[:, 3] = asymmetric
    peak_free = np.stack([~fixed_position[m] & present, present, present], axis=2).reshape(G, 3 * K)
    free[:, N_GROUP_PARAMS:] = peak_free
    lower = np.concatenate([np.full((G, 2), -np.inf), np.zeros((G, 1)), np.full((G, 1), -0.8),
                            np.stack([x0 - position_slack_fwhm * h0, h0 * fwhm_bounds[0], np.zeros_like(h0)],
                                     axis=2).reshape(G, 3 * K)], axis=1)
    upper = np.concatenate([np.full((G, 2), np.inf), np.ones((G, 1)), np.full((G, 1), 0.8),
                            np.stack([x0 + position_slack_fwhm * h0, h0 * fwhm_bounds[1], np.full_like(h0, np.inf)],
                                     axis=2).reshape(G, 3 * K)], axis=1)

    P = p.shape[1]
    any_asym = bool(np.any(asymmetric))
    # windows hold 1 to K peaks; ``fit_groups`` orders them by size, so the linear algebra (JᵀJ,
    # the solves, the final covariance) runs on the leading [P_c, P_c] block of each size class
    # instead of padding every window to the largest: most windows hold one or two peaks
    n_peaks = present.sum(axis=1)
    if np.all(np.diff(n_peaks) >= 0):
        tops = sorted({min(c, K) for c in (1, 2, 4, K)})
        ends = np.searchsorted(n_peaks, tops, side="right")
        classes = [(e, N_GROUP_PARAMS + 3 * t) for e, t in zip(ends, tops)]
    else:
        classes = [(G, P)]
    class_end = np.array([e for e, _ in classes])
    # columns inside a window's size class that belong to no peak of it (and α when no window is
    # asymmetric): the only Jacobian entries the model does not write, so only they are zeroed
    class_width = np.repeat([pc for _, pc in classes], np.diff(np.concatenate([[0], class_end])))
    column = np.arange(P)[None, :]
    unwritten = (column >= N_GROUP_PARAMS + 3 * n_peaks[:, None]) & (column < class_width[:, None])
    unwritten_r, unwritten_c = np.nonzero(unwritten)

    def blocks(rows):
        """(start, end, P_c) slices of ``rows`` (sorted window indices) per size class."""
        cuts = np.searchsorted(rows, class_end)
        out, s0 = [], 0
        for (_, pc), s1 in zip(classes, cuts):
            if s1 > s0:
                out.append((s0, int(s1), pc))
            s0 = int(s1)
        return out

    # the present peaks, one row each (windows hold different numbers of peaks: no padding work)
    peak_g, peak_k = np.nonzero(present)
    col_x0 = N_GROUP_PARAMS + 3 * peak_k
    # the Jacobian is built weighted, with zero columns for fixed parameters (positions of fixed
    # reflections, α of symmetric windows; padding slots are never written)
    wts_x0 = wts[peak_g] * (~fixed_position[groups.member[peak_g, peak_k]])[:, None]
    wts_alpha = wts * asymmetric[:, None]
    xcw = xc * wts
    slot = np.full(G, -1)
    # what a pass over every window reads, gathered once (most evaluations are such passes)
    # each profile is evaluated at two nodes per bin (``bin_nodes``) and averaged: the factor ½ of
    # that mean rides on the per-peak weights and on the membership matrix below
    nodes_peaks = bin_nodes(xs, spread)[peak_g]
    half_wts_peaks, half_wts_x0 = 0.5 * wts[peak_g], 0.5 * wts_x0
    member_all = _membership(peak_g, G)
    off_all = _run_starts(class_width)

    def model(params, rows):
        """Model and weighted Jacobian of the windows ``rows`` (sorted)."""
        R = len(rows)
        if R == G:
            r_f, c_f, x_f, w_f, wx0_f = peak_g, col_x0, nodes_peaks, half_wts_peaks, half_wts_x0
            member, w, xcw_r, wa_r, off = member_all, wts, xcw, wts_alpha, off_all
        else:
            slot[rows] = np.arange(R)
            f = np.flatnonzero(slot[peak_g] >= 0)
            r_f = slot[peak_g[f]]
            slot[rows] = -1
            c_f, x_f, w_f, wx0_f = col_x0[f], nodes_peaks[f], half_wts_peaks[f], half_wts_x0[f]
            member = _membership(r_f, R)
            w, xcw_r, wa_r = wts[rows], xcw[rows], wts_alpha[rows]
            off = _run_starts(class_width[rows])
        profile = split_pseudo_voigt_flat(x_f, params[r_f, c_f], params[r_f, c_f + 1], params[r_f, c_f + 2],
                                          params[r_f, 2], params[r_f, 3], need_alpha=any_asym)
        # the Jacobian is built transposed, one row per (window, parameter) and the points along
        # the row: every column is written in one piece, and each window holds only the rows of
        # its size class, so a class is a plain [windows, P_c, points] block for JᵀJ (padding
        # every window to the largest class tripled the memory the products walk through)
        n_rows = int(off[-1] + class_width[rows[-1]])
        at = off[r_f] + c_f
        y_f, d_x0, d_h, d_a, d_eta, d_alpha = (None if v is None else _pair_sums(v) for v in profile)
        Jt = np.empty((n_rows, xs.shape[1]))
        pad_r, pad_c = (unwritten_r, unwritten_c) if R == G else np.nonzero(unwritten[rows])
        Jt[off[pad_r] + pad_c] = 0.0
        if d_alpha is None:
            Jt[off + 3] = 0.0
        Jt[off] = w
        Jt[off + 1] = xcw_r
        Jt[off + 2] = (member @ d_eta) * w
        if d_alpha is not None:
            Jt[off + 3] = (member @ d_alpha) * wa_r
        d_x0 *= wx0_f
        d_h *= w_f
        d_a *= w_f
        Jt[at] = d_x0
        Jt[at + 1] = d_h
        Jt[at + 2] = d_a
        yhat = member @ y_f
        yhat += params[:, 0:1] + params[:, 1:2] * (xc if R == G else xc[rows])
        return ((ys if R == G else ys[rows]) - yhat) * w, Jt, off

    def normal(params, rows):
        r, Jt, off = model(params, rows)
        JTJ = np.zeros((len(rows), P, P))
        grad = np.zeros((len(rows), P))
        for s0, s1, pc in blocks(rows):
            Jc = Jt[off[s0]:off[s0] + (s1 - s0) * pc].reshape(s1 - s0, pc, -1)
            np.matmul(Jc, Jc.transpose(0, 2, 1), out=JTJ[s0:s1, :pc, :pc])
            grad[s0:s1, :pc] = np.matmul(Jc, r[s0:s1, :, None])[:, :, 0]
        return JTJ, grad, (r * r).sum(axis=1)

    # crowded windows start more damped: their first Gauss–Newton steps overshoot (peaks trading
    # intensity) and would be refused several times while μ climbs from 1e-3
    mu = np.where(n_peaks >= 3, 1e-1, 1e-3)
    dof = np.maximum(n_valid - free.sum(axis=1), 1)
    eye_p = np.broadcast_to(np.eye(P), (G, P, P))
    nu = np.full(G, 2.0)  # growth of μ on consecutive refusals (Nielsen)
    all_rows = np.arange(G)
    JTJ_all, grad_all, current = normal(p, all_rows)
    if linear_start:
        # the model is linear in the background and the areas: one exact least-squares step in
        # them alone (positions, widths, η, α held) replaces the height-based guesses, which in
        # crowded windows overshoot and cost several refused LM steps
        lin = free.copy()
        lin[:, 2:N_GROUP_PARAMS] = False
        lin[:, N_GROUP_PARAMS:] &= np.tile(np.array([False, False, True]), K)[None, :]
        A = JTJ_all * lin[:, :, None] * lin[:, None, :]
        A.reshape(G, -1)[:, ::P + 1] += np.where(lin, 1e-12 * np.einsum("gpp->gp", JTJ_all), 1.0)
        step = np.zeros((G, P))
        for s0, s1, pc in blocks(all_rows):
            step[s0:s1, :pc] = np.linalg.solve(A[s0:s1, :pc, :pc], (grad_all[s0:s1, :pc] * lin[s0:s1, :pc])[:, :, None])[:, :, 0]
        trial = np.clip(p + step, lower, upper)
        JTJ_t, grad_t, new = normal(trial, all_rows)
        better = new < current
        p[better] = trial[better]
        JTJ_all[better], grad_all[better], current[better] = JTJ_t[better], grad_t[better], new[better]
    converged = np.zeros(G, dtype=bool)
    step_var = np.ones((G, P))
    it = 0
    for it in range(1, max_iterations + 1):
        rows = np.flatnonzero(~converged)
        if not len(rows):
            break
        whole = len(rows) == G
        fr = free if whole else free[rows]
        A = JTJ_all.copy() if whole else JTJ_all[rows]
        grad = grad_all if whole else grad_all[rows]
        p_r, cur_r, mu_r = (p, current, mu) if whole else (p[rows], current[rows], mu[rows])
        lo_r, hi_r = (lower, upper) if whole else (lower[rows], upper[rows])
        diag = np.einsum("gpp->gp", A)
        diag = np.where(fr & (diag > 0), diag, 1.0)
        # a parameter held at a bound by its gradient sits out this step (projected LM): the
        # others then take the step that is optimal with it held, not one that assumed it moves
        act = fr & ~np.where(grad < 0, p_r <= lo_r, (p_r >= hi_r) & (grad > 0))
        if (act != fr).any():  # (fixed parameters have zero rows and columns already)
            act_f = act.astype(np.float64)
            A *= act_f[:, :, None] * act_f[:, None, :]
        # fixed parameters have zero Jacobian columns, hence zero rows/columns in JᵀJ and a zero
        # gradient: the damping alone keeps the system regular and their step is exactly zero
        A.reshape(len(rows), -1)[:, ::P + 1] += mu_r[:, None] * diag
        g_act = grad * act
        # in the first iteration one solve gives the step and the inverse: its diagonal is each
        # parameter's squared standard error (the damped system's, i.e. slightly small: a
        # conservative test below); later steps reuse those errors — a stopping rule needs their
        # size, not their last digit, and the identity right-hand side is most of a solve's cost
        step = np.zeros_like(g_act)
        for s0, s1, pc in blocks(rows):
            if it == 1:
                sol = np.linalg.solve(A[s0:s1, :pc, :pc],
                                      np.concatenate([g_act[s0:s1, :pc, None], eye_p[s0:s1, :pc, :pc]], axis=2))
                step[s0:s1, :pc] = sol[:, :, 0]
                step_var[rows[s0:s1], :pc] = np.einsum("gpp->gp", sol[:, :, 1:])
            else:
                step[s0:s1, :pc] = np.linalg.solve(A[s0:s1, :pc, :pc], g_act[s0:s1, :pc, None])[:, :, 0]
        var_r = step_var if whole else step_var[rows]
        # reduction of χ² the damped linear model predicts for this step
        predicted = np.einsum("gp,gp->g", step, (mu_r[:, None] * diag) * step + g_act)
        trial = np.clip(p_r + step * act, lo_r, hi_r)
        # the step actually taken, in standard errors of each parameter (scaled like the reported
        # ones by the window's reduced χ² when that exceeds 1)
        scale = np.maximum(cur_r / (dof if whole else dof[rows]), 1.0)
        significance = (np.abs(trial - p_r) / np.sqrt(var_r * scale[:, None])).max(axis=1)
        # a window whose next step is below tolerance has converged where it stands: the trial
        # point is not worth a model evaluation
        settled = significance < step_tolerance_sigma
        if settled.any():
            converged[rows[settled]] = True
            moving = ~settled
            rows, trial, p_r, cur_r, mu_r, predicted = (rows[moving], trial[moving], p_r[moving], cur_r[moving],
                                                        mu_r[moving], predicted[moving])
            if not len(rows):
                continue
        JTJ_t, grad_t, new = normal(trial, rows)
        better = new < cur_r
        # (before the updates below: in a full pass cur_r is ``current`` itself)
        stalled = cur_r - new < tolerance * cur_r
        rho = (cur_r - new) / np.where(predicted > 0, predicted, np.inf)
        acc = rows[better]
        p[acc] = trial[better]
        JTJ_all[acc] = JTJ_t[better]
        grad_all[acc] = grad_t[better]
        current[acc] = new[better]
        # done when the step is tiny against the parameters' own standard errors, when
        # chi-square no longer moves, or when LM keeps refusing steps
        converged[rows] = np.where(better, stalled, mu_r > 1e4)
        # Nielsen's damping update: after a good step μ falls by up to 3× (less when the linear
        # model predicted the gain poorly); each refusal raises μ by a factor that doubles, so a
        # window that overshot recovers in a few trials instead of creeping up by a fixed factor
        nu_r = nu[rows]
        mu[rows] = np.where(better, np.maximum(mu_r * np.maximum(1.0 / 3.0, 1.0 - (2.0 * np.clip(rho, 0.0, 1.0) - 1.0) ** 3), 1e-9),
                            mu_r * nu_r)
        nu[rows] = np.where(better, 2.0, nu_r * 2.0)

    # covariance at the solution, scaled by the reduced chi-square of each window
    JTJ_all.reshape(G, -1)[:, ::P + 1] += ~free  # fixed parameters: a unit diagonal (no longer needed as is)
    chi2_red = current / dof
    var = np.zeros((G, P))
    for s0, s1, pc in blocks(all_rows):
        var[s0:s1, :pc] = _pinv_diagonal(JTJ_all[s0:s1, :pc, :pc])
    var *= np.maximum(chi2_red, 1.0)[:, None]
    sig = np.sqrt(np.clip(var, 0, None)) * free

    pk = p[:, N_GROUP_PARAMS:].reshape(G, K, 3)
    sk = sig[:, N_GROUP_PARAMS:].reshape(G, K, 3)
    out = {name: np.full(ncand, np.nan) for name in
           ("position", "position_sigma", "fwhm", "fwhm_sigma", "area", "area_sigma", "eta", "alpha", "chi2")}
    group_of = np.full(ncand, -1)
    conv = np.zeros(ncand, dtype=bool)
    gi, ki = np.nonzero(present)
    cand = groups.member[gi, ki]
    for j, name in enumerate(("position", "fwhm", "area")):
        out[name][cand] = pk[gi, ki, j]
        out[f"{name}_sigma"][cand] = sk[gi, ki, j]
    out["eta"][cand] = p[gi, 2]
    out["alpha"][cand] = p[gi, 3]
    out["chi2"][cand] = chi2_red[gi]
    group_of[cand] = gi
    conv[cand] = converged[gi]
    return FitResult(out["position"], out["position_sigma"], out["fwhm"], out["fwhm_sigma"], out["area"],
                     out["area_sigma"], out["eta"], out["alpha"], group_of, out["chi2"], conv, it)


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
        sel = sel[np.argsort(n_members[sel], kind="stable")]  # by size: see the size classes in _fit_bucket
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
