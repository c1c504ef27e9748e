"""The data a batched peak fit sees: every window's points, rebinned and stacked into [G, N] arrays.

Windows differ in length; they are padded to a common number of bins with zero weight, so that
the fit runs on plain rectangular arrays. A window wider than ``max_points`` samples is rebinned
(means of m adjacent points); the model then averages the profile over each bin (``bin_nodes``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Windows:
    """The stacked data of G windows, [G, N] each; padding bins have zero weight."""

    x: np.ndarray  # bin centres (mean 2θ)
    spread: np.ndarray  # standard deviation of each bin's 2θ about its centre (see ``bin_nodes``)
    y: np.ndarray  # mean intensity of each bin
    weight: np.ndarray  # 1/σ of the bin mean
    valid: np.ndarray  # real bins (not padding)


def stack_windows(x: np.ndarray, y: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  max_points: int) -> Windows:
    """Stack the data of every window [lo, hi) into [G, N] arrays padded with zero weight.

    A window wider than ``max_points`` samples is rebinned (means of m adjacent points, σ/√m).
    The spread of a bin is the standard deviation of m points of the local step: the model
    averages the profile over it, see ``bin_nodes``.
    """
    i0 = np.searchsorted(x, lo)
    i1 = np.searchsorted(x, hi)
    length = np.maximum(i1 - i0, 1)
    m = np.maximum(1, -(-length // max_points))  # points per bin, per window
    nbins = -(-length // m)
    n = int(nbins.max())
    start = np.minimum(i0[:, None] + np.arange(n)[None, :] * m[:, None], i1[:, None])
    end = np.minimum(start + m[:, None], i1[:, None])
    cnt = end - start
    valid = cnt > 0
    safe = np.maximum(cnt, 1).astype(np.float64)
    a = int(min(i0.min(), len(x) - 1))  # the span the windows cover
    b = int(min(max(i1.max(), a + 1), len(x)))
    x_sum, y_sum, var_sum = _run_sums(start - a, end - a, (x[a:b], y[a:b], s[a:b] * s[a:b]))
    xs = np.where(valid, x_sum / safe, 0.0)
    ys = np.where(valid, y_sum / safe, 0.0)
    var = np.where(valid, var_sum / safe**2, 0.0)
    xs = np.where(valid, xs, xs[:, :1])
    weight = np.where(valid & (var > 0), 1.0 / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    first_x, last_x = x[np.minimum(start, len(x) - 1)], x[np.clip(end - 1, 0, len(x) - 1)]
    spread = (last_x - first_x) / np.maximum(cnt - 1, 1) * np.sqrt(np.maximum(cnt * cnt - 1, 0) / 12.0)
    return Windows(xs, spread, ys, weight, valid)


def _run_sums(start: np.ndarray, end: np.ndarray, arrays: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Sums of each array over the runs [start, end) of consecutive samples, shaped like ``start``.

    One ``add.reduceat`` over the arrays (the span the runs cover), with the runs' starts and ends
    interleaved (the odd segments, the gaps between runs, are dropped), instead of a [window, bin,
    point] gather (a difference of cumulative sums is 4× slower: cumsum does not vectorise).
    """
    L = len(arrays[0])
    st, en = start.ravel(), end.ravel()
    idx = np.stack([np.minimum(st, L - 1), np.minimum(en, L - 1)], axis=1).ravel()
    # a run reaching the span's end stops one short in ``idx``: its last sample is added back
    tail = np.flatnonzero((en == L) & (st < L - 1))
    sums = []
    for arr in arrays:
        total = np.add.reduceat(arr, idx)[::2]
        total[tail] += arr[L - 1]
        sums.append(total.reshape(start.shape))
    return sums


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
