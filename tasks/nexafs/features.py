"""Features per spectrum, vectorised over a stack on the common grid of one edge."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tasks.nexafs import chain

FEATURE_COLUMNS = ("ni2_fraction", "ni2_fraction_sigma", "lcf_residual_rms", "l3_low_high_ratio", "l3_centroid_ev",
                   "l3_l2_branching_ratio", "ok_preedge_intensity_ev", "ok_peak_529_ev", "ok_peak_530_ev",
                   "k_half_step_ev", "k_white_line_ev", "k_first_inflection_ev", "valence_fraction",
                   "valence_fraction_sigma")


def applicable_features(edge: str, role: str, valence_declared: bool) -> tuple[str, ...]:
    """The feature columns that apply to a spectrum of ``edge`` and ``role`` (the same rules as
    edge_features and features_of); the others are null by nature, and said so in fit_flags."""
    cols = []
    if edge.endswith("_L"):
        cols += ["l3_centroid_ev", "l3_l2_branching_ratio"]
    if edge == "Ni_L":
        cols += ["l3_low_high_ratio"] + (["ni2_fraction", "ni2_fraction_sigma", "lcf_residual_rms"]
                                         if role == "sample" else [])
    if edge == "O_K":
        cols += ["ok_preedge_intensity_ev", "ok_peak_529_ev", "ok_peak_530_ev"]
    if edge.endswith("_K") and edge != "O_K":
        cols += ["k_half_step_ev", "k_white_line_ev", "k_first_inflection_ev"]
    if role == "sample" and valence_declared:
        cols += ["valence_fraction", "valence_fraction_sigma"]
    return tuple(c for c in FEATURE_COLUMNS if c in cols)


def not_applicable_reason(edge: str, role: str, valence_declared: bool) -> list[str]:
    """``["<columns>: not applicable to <edge> <role> spectra"]``, or [] when every feature applies."""
    applicable = applicable_features(edge, role, valence_declared)
    rest = [c for c in FEATURE_COLUMNS if c not in applicable]
    return [f"{', '.join(rest)}: not applicable to {edge} {role} spectra"] if rest else []


def edge_features(edge: str, grid: np.ndarray, reduced: Mapping[str, np.ndarray], edge_cfg: Mapping[str, Any],
                  feature_cfg: Mapping[str, Any], end_members: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Feature vectors (n,) for the edge; columns that do not apply to the edge stay NaN.

    ``end_members``: (2, n_grid) Ni2+ and Ni3+ reference spectra (mu_final) on ``grid``.
    """
    final = chain.as_stack(reduced["mu_final"])
    white = chain.as_stack(reduced["mu_minus_step"])
    n = final.shape[0]
    out = {c: np.full(n, np.nan) for c in FEATURE_COLUMNS}
    edge_cfg = {k: v for k, v in edge_cfg.items() if v is not None}  # a window not configured: feature stays null
    if edge.endswith("_L") and {"l3_window", "l2_window"} <= edge_cfg.keys():
        l3, l2 = tuple(edge_cfg["l3_window"]), tuple(edge_cfg["l2_window"])
        out["l3_centroid_ev"] = chain.centroid(grid, white, l3)
        i3 = chain.integrate(grid, np.clip(white, 0, None), l3)
        i2 = chain.integrate(grid, np.clip(white, 0, None), l2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["l3_l2_branching_ratio"] = i3 / (i3 + i2)
    if edge == "Ni_L":
        low = chain.window_mean(grid, final, tuple(feature_cfg["l3_low_window"]))
        high = chain.window_mean(grid, final, tuple(feature_cfg["l3_high_window"]))
        with np.errstate(invalid="ignore", divide="ignore"):
            out["l3_low_high_ratio"] = low / high
        if end_members is not None:
            fit = chain.linear_combination_fit(grid, final, end_members, tuple(feature_cfg["lcf_window"]))
            frac, sigma = chain.fraction_of_first(fit)
            out["ni2_fraction"], out["ni2_fraction_sigma"] = frac, sigma
            out["lcf_residual_rms"] = fit.residual_rms
    if edge == "O_K" and {"preedge_window", "peak_529_window", "peak_530_window"} <= edge_cfg.keys():
        out["ok_preedge_intensity_ev"] = chain.integrate(grid, white, tuple(edge_cfg["preedge_window"]))
        out["ok_peak_529_ev"] = chain.peak_position(grid, white, tuple(edge_cfg["peak_529_window"]))
        out["ok_peak_530_ev"] = chain.peak_position(grid, white, tuple(edge_cfg["peak_530_window"]))
    if edge.endswith("_K") and edge != "O_K" and {"edge_window", "white_line_window"} <= edge_cfg.keys():
        out["k_half_step_ev"] = chain.half_step_energy(grid, final, tuple(edge_cfg["edge_window"]))
        out["k_white_line_ev"] = chain.peak_position(grid, final, tuple(edge_cfg["white_line_window"]))
        out["k_first_inflection_ev"] = chain.first_inflection(grid, final, tuple(edge_cfg["edge_window"]))
    return out
