"""The parameter vector of a fit window: its layout, starting values, bounds and which entries are free.

Row g of a [G, P] parameter array is window g: background (b0 at the window centre, slope b1),
the shared Lorentz fraction η and asymmetry α, then (x0, fwhm, area) for each of its K peak slots
(P = 4 + 3K). Slots beyond a window's peaks are padding: not free, never written by the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.sxpd.fit_windows import Windows

#: parameters a window has besides its peaks: background (2), eta, alpha
N_GROUP_PARAMS = 4


@dataclass
class ParameterSpace:
    """Where each [G, P] parameter may go: ``free`` entries are refined within [lower, upper]."""

    free: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _edge_background(windows: Windows, span: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight background (b0 at the window centre, slope b1) through the medians of each
    window's first and last few bins."""
    ys = windows.y
    G = len(ys)
    edge = max(2, ys.shape[1] // 20)
    last = np.maximum(windows.valid.sum(axis=1) - 1, 0)
    right_idx = np.clip(last[:, None] - np.arange(edge)[None, :], 0, None)
    # medians of the few edge points (np.median's overhead is ~10× a sort of [G, edge])
    ends = np.sort(np.concatenate([ys[:, :edge], np.take_along_axis(ys, right_idx, axis=1)], axis=1)
                   .reshape(G, 2, edge), axis=2)
    left_bg, right_bg = 0.5 * (ends[:, :, (edge - 1) // 2] + ends[:, :, edge // 2]).T
    b1 = (right_bg - left_bg) / span
    b0 = 0.5 * (left_bg + right_bg)
    return b0, b1


def start_parameters(x: np.ndarray, y: np.ndarray, windows: Windows, lo: np.ndarray, hi: np.ndarray,
                     present: np.ndarray, x0: np.ndarray, h0: np.ndarray, eta0: float) -> np.ndarray:
    """Starting [G, P] parameters: background through the window ends, areas from the peak heights.

    ``x0``/``h0`` [G, K]: starting positions and widths of the peak slots, ``present`` the real ones.
    Overlapping peaks share the observed height (divided by the number of close neighbours).
    """
    G, K = x0.shape
    centre = 0.5 * (lo + hi)
    b0, b1 = _edge_background(windows, np.maximum(hi - lo, 1e-9))
    peak_idx = np.clip(np.searchsorted(x, x0), 0, len(x) - 1)
    bg_at = b0[:, None] + b1[:, None] * (x0 - centre[:, None])
    height = np.clip(y[peak_idx] - bg_at, 0.0, None)
    close = (np.abs(x0[:, :, None] - x0[:, None, :]) < h0[:, :, None]) & present[:, None, :] & present[:, :, None]
    height = height / np.maximum(close.sum(axis=2), 1)
    a0 = height * 0.5 * h0 * (eta0 * np.pi + (1 - eta0) * np.sqrt(np.pi / np.log(2.0)))
    return np.concatenate([b0[:, None], b1[:, None], np.full((G, 1), eta0), np.zeros((G, 1)),
                           np.stack([x0, h0, a0], axis=2).reshape(G, 3 * K)], axis=1)


def parameter_space(present: np.ndarray, position_free: np.ndarray, asymmetric: np.ndarray, x0: np.ndarray,
                    h0: np.ndarray, position_slack_fwhm: float, fwhm_bounds: tuple[float, float]) -> ParameterSpace:
    """Free entries and bounds of the [G, P] parameters.

    α is free only in ``asymmetric`` windows, a position only where ``position_free`` [G, K];
    widths stay within ``fwhm_bounds`` × their start, positions within ``position_slack_fwhm``
    widths of it, areas non-negative, η in [0, 1] and α in [−0.8, 0.8].
    """
    G, K = x0.shape
    free = np.ones((G, N_GROUP_PARAMS + 3 * K), dtype=bool)
    free[:, 3] = asymmetric
    free[:, N_GROUP_PARAMS:] = np.stack([position_free & present, present, present], axis=2).reshape(G, 3 * K)
    lower = np.concatenate([np.full((G, 2), -np.inf), np.zeros((G, 1)), np.full((G, 1), -0.8),
                            np.stack([x0 - position_slack_fwhm * h0, h0 * fwhm_bounds[0], np.zeros_like(h0)],
                                     axis=2).reshape(G, 3 * K)], axis=1)
    upper = np.concatenate([np.full((G, 2), np.inf), np.ones((G, 1)), np.full((G, 1), 0.8),
                            np.stack([x0 + position_slack_fwhm * h0, h0 * fwhm_bounds[1], np.full_like(h0, np.inf)],
                                     axis=2).reshape(G, 3 * K)], axis=1)
    return ParameterSpace(free, lower, upper)
