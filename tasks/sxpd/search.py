"""Coarse location of a pattern's lattice before peak fitting: background and template scores.

Fitting needs starting positions within about one width of the truth. Lattice parameters move
reflections by many widths over a charge (a shrinks ~2 %), so each pattern first scores a grid of
candidate lattices (or wavelengths, for a standard) by the background-subtracted intensity found at
their predicted reflection positions, all candidates at once.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def _block_min(values: np.ndarray, block: int) -> np.ndarray:
    """Minimum of each run of ``block`` adjacent values (``len(values)`` a multiple of ``block``).

    Elementwise minima of the ``block`` strided columns: several times faster than
    ``reshape(-1, block).min(axis=1)``, which reduces a short axis element by element.
    """
    columns = values.reshape(-1, block)
    out = columns[:, 0].copy()
    for j in range(1, block):
        np.minimum(out, columns[:, j], out=out)
    return out


def _block_mean(values: np.ndarray, block: int) -> np.ndarray:
    """Mean of each run of ``block`` adjacent values, bit-identical to ``reshape(-1, block).mean(axis=1)``.

    For the usual block of 8 the pairs are added in the order numpy's pairwise summation uses for
    eight values, as strided column operations (several times faster than the short-axis reduction).
    """
    columns = values.reshape(-1, block)
    if block != 8:
        return columns.mean(axis=1)
    c = [columns[:, j] for j in range(8)]
    return (((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]))) / 8


def background(two_theta: np.ndarray, intensity: np.ndarray, window_deg: float, block: int = 8) -> np.ndarray:
    """Smooth lower envelope: a rolling minimum over ``window_deg`` followed by a rolling mean.

    Computed on minima of ``block`` adjacent points (the envelope varies over hundreds of points)
    and interpolated back, which makes it ~``block`` times cheaper.
    """
    step = (two_theta[-1] - two_theta[0]) / max(len(two_theta) - 1, 1)
    usable = len(intensity) - len(intensity) % block
    if usable < 4 * block:
        block, usable = 1, len(intensity)
    coarse = _block_min(intensity[:usable], block)
    n = max(3, int(window_deg / (step * block)) | 1)
    low = ndimage.uniform_filter1d(ndimage.minimum_filter1d(coarse, n, mode="nearest"), n, mode="nearest")
    centres = _block_mean(two_theta[:usable], block)
    return np.interp(two_theta, centres, low)


def excess(two_theta: np.ndarray, intensity: np.ndarray, window_deg: float, smooth_deg: float) -> np.ndarray:
    """Intensity above background, lightly smoothed so that a slightly wrong position still scores."""
    step = (two_theta[-1] - two_theta[0]) / max(len(two_theta) - 1, 1)
    above = intensity - background(two_theta, intensity, window_deg)
    np.maximum(above, 0.0, out=above)
    return ndimage.uniform_filter1d(above, max(1, int(smooth_deg / step)), mode="nearest")


def template_score(two_theta: np.ndarray, signal: np.ndarray, predicted: np.ndarray,
                   weight: np.ndarray) -> np.ndarray:
    """Score of each candidate: Σ_j weight_j · sqrt(signal at predicted[candidate, j]).

    ``predicted`` is [candidates, reflections] in deg (NaN = out of range, scores 0). The square root
    keeps one strong reflection (or an Al line that happens to match) from outvoting many.
    """
    inside = np.isfinite(predicted) & (predicted > two_theta[0]) & (predicted < two_theta[-1])
    where = np.where(inside, predicted, two_theta[0])
    root = np.sqrt(signal)
    step = (two_theta[-1] - two_theta[0]) / max(len(two_theta) - 1, 1)
    if np.abs(np.diff(two_theta) - step).max() < 1e-3 * step:
        # uniform axis (I11 reductions are): index directly instead of a binary search per lookup;
        # the signal is smoothed over several points, so the nearest sample is as good as interpolation
        values = root[np.rint((where - two_theta[0]) / step).astype(np.intp)]
    else:
        values = np.interp(where, two_theta, root)
    return (values * inside * weight).sum(axis=-1)
