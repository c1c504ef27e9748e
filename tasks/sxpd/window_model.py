"""Model, weighted residuals, Jacobian and normal equations of many fit windows at once.

A window's model is a straight background plus one split pseudo-Voigt per peak (``profiles``),
averaged over each bin at two nodes (``fit_windows.bin_nodes``). The present peaks are evaluated
one row each (windows hold different numbers of peaks: no padding work) and summed into their
windows by one matrix product. Windows are sorted by their number of peaks and cut into size
classes: the Jacobian of a window holds only the rows of its class (4 + 3·peaks of the class's
largest window), so JᵀJ of a class is a plain [windows, P_c, P_c] batch — most windows hold one
or two peaks, and padding every window to the largest tripled the memory the products walk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tasks.sxpd.fit_parameters import N_GROUP_PARAMS
from tasks.sxpd.fit_windows import Windows, bin_nodes
from tasks.sxpd.profiles import split_pseudo_voigt_flat


def run_starts(lengths: np.ndarray) -> np.ndarray:
    """Index of each run's first element when runs of ``lengths`` are laid end to end."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]])


@dataclass
class SizeClasses:
    """Windows (sorted by number of peaks) cut into classes that share a parameter count P_c."""

    classes: list[tuple[int, int]]  # (one past the class's last window, P_c) per class
    end: np.ndarray  # [C] one past each class's last window
    width: np.ndarray  # [G] P_c of each window's class


def size_classes(n_peaks: np.ndarray, max_peaks: int) -> SizeClasses:
    """Classes of windows of ≤1, ≤2, ≤4 and ≤``max_peaks`` peaks (one class if not sorted by size)."""
    if np.all(np.diff(n_peaks) >= 0):
        tops = sorted({min(c, max_peaks) for c in (1, 2, 4, max_peaks)})
        ends = np.searchsorted(n_peaks, tops, side="right")
        classes = [(e, N_GROUP_PARAMS + 3 * t) for e, t in zip(ends, tops)]
    else:
        classes = [(len(n_peaks), N_GROUP_PARAMS + 3 * max_peaks)]
    end = np.array([e for e, _ in classes])
    width = np.repeat([pc for _, pc in classes], np.diff(np.concatenate([[0], end])))
    return SizeClasses(classes, end, width)


def class_blocks(sizes: SizeClasses, rows: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, P_c) slices of ``rows`` (sorted window indices) per size class."""
    cuts = np.searchsorted(rows, sizes.end)
    out, s0 = [], 0
    for (_, pc), s1 in zip(sizes.classes, cuts):
        if s1 > s0:
            out.append((s0, int(s1), pc))
        s0 = int(s1)
    return out


def _membership(window_of_peak: np.ndarray, n_windows: int) -> np.ndarray:
    """[windows, peaks] matrix of ½ where a peak belongs to a window: sums over each window's
    peaks (and the ½ of the two-node bin mean, ``bin_nodes``) as one BLAS product; reduceat along
    the peak axis goes through numpy's buffered iterator and is several times slower."""
    member = np.zeros((n_windows, len(window_of_peak)))
    member[window_of_peak, np.arange(len(window_of_peak))] = 0.5
    return member


def _pair_sums(values: np.ndarray) -> np.ndarray:
    """Sum of the two node values of every bin: [F, 2N] → [F, N]."""
    return values[:, 0::2] + values[:, 1::2]


class WindowRows(NamedTuple):
    """What the model of a set of windows reads: per present peak (F), per window (R) and the layout."""

    peak_row: np.ndarray  # [F] row (0..R-1) of each peak's window
    peak_column: np.ndarray  # [F] column of each peak's x0 in the parameters
    nodes: np.ndarray  # [F, 2N] the bin nodes of each peak's window
    half_weight: np.ndarray  # [F, N] ½/σ of each peak's window
    position_half_weight: np.ndarray  # [F, N] the same, zero for a held position
    member: np.ndarray  # [R, F] ½ where a peak belongs to a window
    weight: np.ndarray  # [R, N] 1/σ
    xc: np.ndarray  # [R, N] bin centres relative to the window centre
    xc_weight: np.ndarray  # [R, N] xc/σ
    alpha_weight: np.ndarray  # [R, N] 1/σ, zero where α is held
    y: np.ndarray  # [R, N] observed bin means
    offset: np.ndarray  # [R] first Jacobian row of each window
    unwritten: tuple[np.ndarray, np.ndarray]  # (window, column) pairs the model does not write


@dataclass
class WindowModel:
    """The fixed inputs of the model of a bucket's windows; ``every`` is the gather for all G
    windows, done once (most evaluations are such passes)."""

    sizes: SizeClasses
    n_windows: int  # G
    n_params: int  # P of the widest window
    n_bins: int
    any_asymmetric: bool
    unwritten: np.ndarray  # [G, P] Jacobian columns inside a window's class that belong to no peak of it
    every: WindowRows


def build_window_model(windows: Windows, xc: np.ndarray, present: np.ndarray, position_free: np.ndarray,
                       asymmetric: np.ndarray, sizes: SizeClasses) -> WindowModel:
    """Gather once what every model evaluation reads. ``position_free`` [G, K]: position refined;
    ``asymmetric`` [G]: α refined. The Jacobian is weighted, with zero columns for held parameters."""
    G, K = present.shape
    P = N_GROUP_PARAMS + 3 * K
    n_peaks = present.sum(axis=1)
    column = np.arange(P)[None, :]
    # columns inside a window's size class that belong to no peak of it: with α when no window is
    # asymmetric, the only Jacobian entries the model does not write, so only they are zeroed
    unwritten = (column >= N_GROUP_PARAMS + 3 * n_peaks[:, None]) & (column < sizes.width[:, None])
    peak_g, peak_k = np.nonzero(present)
    wts = windows.weight
    # each profile is evaluated at two nodes per bin (``bin_nodes``) and averaged: the factor ½ of
    # that mean rides on the per-peak weights and on the membership matrix
    every = WindowRows(peak_row=peak_g, peak_column=N_GROUP_PARAMS + 3 * peak_k,
                       nodes=bin_nodes(windows.x, windows.spread)[peak_g], half_weight=0.5 * wts[peak_g],
                       position_half_weight=0.5 * (wts[peak_g] * position_free[peak_g, peak_k][:, None]),
                       member=_membership(peak_g, G), weight=wts, xc=xc, xc_weight=xc * wts,
                       alpha_weight=wts * asymmetric[:, None], y=windows.y, offset=run_starts(sizes.width),
                       unwritten=np.nonzero(unwritten))
    return WindowModel(sizes, G, P, windows.x.shape[1], bool(np.any(asymmetric)), unwritten, every)


def _select(model: WindowModel, rows: np.ndarray) -> WindowRows:
    """The model's inputs for the windows ``rows`` (sorted; all of them: the prepared gather)."""
    R = len(rows)
    if R == model.n_windows:
        return model.every
    every = model.every
    slot = np.full(model.n_windows, -1)
    slot[rows] = np.arange(R)
    f = np.flatnonzero(slot[every.peak_row] >= 0)
    r_f = slot[every.peak_row[f]]
    return WindowRows(peak_row=r_f, peak_column=every.peak_column[f], nodes=every.nodes[f],
                      half_weight=every.half_weight[f], position_half_weight=every.position_half_weight[f],
                      member=_membership(r_f, R), weight=every.weight[rows], xc=every.xc[rows],
                      xc_weight=every.xc_weight[rows], alpha_weight=every.alpha_weight[rows], y=every.y[rows],
                      offset=run_starts(model.sizes.width[rows]), unwritten=np.nonzero(model.unwritten[rows]))


def residuals_and_jacobian(model: WindowModel, params: np.ndarray, rows: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted residuals (y − model)/σ [R, N] of the windows ``rows`` at ``params`` [R, P], their
    weighted Jacobian transposed (one row per window and parameter of its size class, the points
    along the row) and each window's first row in it.

    Built transposed, every column is written in one piece, and a size class is a plain
    [windows, P_c, points] block for JᵀJ. Held parameters get zero rows; padding slots of a
    window's class are zeroed, the rest is written by the model.
    """
    v = _select(model, rows)
    r_f, c_f, off = v.peak_row, v.peak_column, v.offset
    profile = split_pseudo_voigt_flat(v.nodes, params[r_f, c_f], params[r_f, c_f + 1], params[r_f, c_f + 2],
                                      params[r_f, 2], params[r_f, 3], need_alpha=model.any_asymmetric)
    n_rows = int(off[-1] + model.sizes.width[rows[-1]])
    at = off[r_f] + c_f
    y_f, d_x0, d_h, d_a, d_eta, d_alpha = (None if p is None else _pair_sums(p) for p in profile)
    Jt = np.empty((n_rows, model.n_bins))
    pad_r, pad_c = v.unwritten
    Jt[off[pad_r] + pad_c] = 0.0
    if d_alpha is None:
        Jt[off + 3] = 0.0
    Jt[off] = v.weight
    Jt[off + 1] = v.xc_weight
    Jt[off + 2] = (v.member @ d_eta) * v.weight
    if d_alpha is not None:
        Jt[off + 3] = (v.member @ d_alpha) * v.alpha_weight
    d_x0 *= v.position_half_weight
    d_h *= v.half_weight
    d_a *= v.half_weight
    Jt[at] = d_x0
    Jt[at + 1] = d_h
    Jt[at + 2] = d_a
    yhat = v.member @ y_f
    yhat += params[:, 0:1] + params[:, 1:2] * v.xc
    return (v.y - yhat) * v.weight, Jt, off


def normal_equations(model: WindowModel, params: np.ndarray, rows: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """JᵀJ [R, P, P], Jᵀr [R, P] and χ² [R] of the windows ``rows`` at ``params`` [R, P].

    Each size class fills the leading [P_c, P_c] block of its windows; the rest stays zero.
    """
    r, Jt, off = residuals_and_jacobian(model, params, rows)
    P = model.n_params
    JTJ = np.zeros((len(rows), P, P))
    grad = np.zeros((len(rows), P))
    for s0, s1, pc in class_blocks(model.sizes, rows):
        Jc = Jt[off[s0]:off[s0] + (s1 - s0) * pc].reshape(s1 - s0, pc, -1)
        np.matmul(Jc, Jc.transpose(0, 2, 1), out=JTJ[s0:s1, :pc, :pc])
        grad[s0:s1, :pc] = np.matmul(Jc, r[s0:s1, :, None])[:, :, 0]
    return JTJ, grad, (r * r).sum(axis=1)
