"""The whole chain for a stack of spectra of one edge, keeping every step's output.

``reduce_scans`` works on raw channels (``xas_scan``); ``reduce_spectra`` on already reduced mu
(``xas_spectrum``). Both return a dict of (n, n_grid) arrays named like the ``xas_points``
columns, plus per-spectrum vectors (edge_step...).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tasks.nexafs import chain


def edge_grid(edge_cfg: Mapping[str, Any]) -> np.ndarray:
    start, stop, step = (float(v) for v in edge_cfg["grid"])
    return np.round(np.arange(start, stop + step / 2, step), 6)


def reference_peak_shift(energy: np.ndarray, ref: np.ndarray, i0: np.ndarray, dark_ref: np.ndarray,
                         dark_i0: np.ndarray, nominal_ev: float, window: tuple[float, float]) -> np.ndarray:
    """Shift (eV) that moves the reference channel's peak (ref/I0) onto its nominal energy."""
    ref_mu = chain.divide_by_i0(chain.subtract_dark(ref, dark_ref), chain.subtract_dark(i0, dark_i0))
    return nominal_ev - chain.peak_position(energy, ref_mu, window)


def _normalise(grid: np.ndarray, mu: np.ndarray, edge_cfg: Mapping[str, Any],
               sa_ratio: float | np.ndarray | None) -> dict[str, np.ndarray]:
    step_bg = chain.step_function(grid, list(edge_cfg["steps_ev"]), list(edge_cfg["step_weights"]),
                                  float(edge_cfg["step_width_ev"]), tuple(edge_cfg["post_edge"]))
    line, step = chain.edge_background_fit(grid, mu, tuple(edge_cfg["pre_edge"]), tuple(edge_cfg["post_edge"]),
                                           step_bg)
    sub = mu - line
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = sub / step[:, None]
    sa = chain.self_absorption_correct(normalised, sa_ratio) if sa_ratio is not None else None
    final = sa if sa is not None else normalised
    return {"pre_edge_line": line, "mu_pre_edge_subtracted": sub, "mu_normalised": normalised,
            "step_background": np.broadcast_to(step_bg, mu.shape), "mu_sa_corrected": sa,
            "mu_final": final, "mu_minus_step": final - step_bg[None, :], "edge_step": step}


def reduce_scans(edge_cfg: Mapping[str, Any], energy: np.ndarray, signal: np.ndarray, i0: np.ndarray,
                 dark_signal: np.ndarray, dark_i0: np.ndarray, shift_ev: np.ndarray,
                 sa_ratio: float | np.ndarray | None = None) -> dict[str, np.ndarray]:
    grid = edge_grid(edge_cfg)
    sig_dc = chain.subtract_dark(signal, dark_signal)
    i0_dc = chain.subtract_dark(i0, dark_i0)
    on_grid = chain.regrid(energy, {"energy_raw_ev": chain.as_stack(energy) + 0.0 * sig_dc,
                                    "signal_raw": signal, "i0_raw": i0,
                                    "signal_dark_corrected": sig_dc, "i0_dark_corrected": i0_dc},
                           shift_ev, grid)
    mu = chain.divide_by_i0(on_grid["signal_dark_corrected"], on_grid["i0_dark_corrected"])
    with np.errstate(invalid="ignore"):
        i0_mean = np.nanmean(i0_dc, axis=1)
        drift = (np.nanmax(i0_dc, axis=1) - np.nanmin(i0_dc, axis=1)) / i0_mean * 100.0
    out = dict(on_grid, mu_over_i0=mu, energy_ev=grid, i0_drift_pct=drift)
    out.update(_normalise(grid, mu, edge_cfg, sa_ratio))
    return out


def reduce_spectra(edge_cfg: Mapping[str, Any], energy: np.ndarray, mu: np.ndarray,
                   shift_ev: np.ndarray) -> dict[str, np.ndarray]:
    grid = edge_grid(edge_cfg)
    mu = chain.as_stack(mu)
    on_grid = chain.regrid(energy, {"energy_raw_ev": chain.as_stack(energy) + 0.0 * mu, "mu_over_i0": mu},
                           shift_ev, grid)
    out = dict(on_grid, energy_ev=grid)
    out.update(_normalise(grid, on_grid["mu_over_i0"], edge_cfg, None))
    return out
