"""One spectrum's E0, its grid and windows, and which windows hold too few points to use.

E0 is the steepest rise of the absorption near the tabulated (xraydb) edge energy, as larch's
``find_e0`` takes it. An edge with a section under ``edges`` uses that section's grid, steps and
feature windows; any other xraydb edge gets a grid over the scan, arctan steps at its tabulated
level energies and windows around E0 (``normalisation.soft``/``hard``). Pre-/post-edge windows are
relative to E0 unless the section (or ``normalisation.windows``) says absolute.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from tasks.nexafs.edges import PAIRS, RISE_TOLERANCE_REL, level_energy, rise_energy

#: feature window -> the feature columns that read it (tasks/nexafs/features.edge_features)
WINDOW_FEATURES = {
    "edge_window": ("k_half_step_ev", "k_first_inflection_ev"),
    "white_line_window": ("k_white_line_ev",),
    "l3_window": ("l3_centroid_ev", "l3_l2_branching_ratio"),
    "l2_window": ("l3_l2_branching_ratio",),
    "preedge_window": ("ok_preedge_intensity_ev",),
    "peak_529_window": ("ok_peak_529_ev",),
    "peak_530_window": ("ok_peak_530_ev",),
}
#: statistical step heights of the spin-orbit pairs (2j+1: L3:L2 = 4:2, M5:M4 = 6:4)
PAIR_WEIGHTS = {"L": (2.0, 1.0), "M": (3.0, 2.0)}


@dataclass
class EdgeSetup:
    cfg: dict[str, Any]  # an 'edges' section: grid, pre_edge, post_edge, steps, feature windows
    e0_ev: float | None  # measured; None when the scan does not show the edge
    window_mode: str
    flags: list[str] = field(default_factory=list)


def measured_e0(energy: np.ndarray, mu: np.ndarray | None, tabulated: float, search_ev: float) -> float | None:
    """Steepest rise of ``mu`` within the search distance of the tabulated edge energy."""
    energy = np.asarray(energy, dtype=float)
    if mu is None or not np.nanmin(energy) <= tabulated <= np.nanmax(energy):  # a scan that stops short
        return None  # of the edge rises on its pre-edge: that is no E0
    reach = max(search_ev, RISE_TOLERANCE_REL * tabulated)
    near = np.abs(np.asarray(energy, dtype=float) - tabulated) <= reach
    return rise_energy(energy[near], np.asarray(mu, dtype=float)[near]) if near.sum() >= 7 else None


def _shifted(window: tuple[float, float], by: float) -> list[float]:
    return [round(by + window[0], 3), round(by + window[1], 3)]


def _generated(element: str, level: str, energy: np.ndarray, rel: Mapping[str, Any], anchor: float,
               tabulated: float) -> dict[str, Any]:
    """The section an edge without one gets: grid over the scan, xraydb steps, windows around E0."""
    step = float(rel["grid_step_ev"])
    grid = [float(np.floor(np.nanmin(energy) / step) * step), float(np.ceil(np.nanmax(energy) / step) * step), step]
    members = PAIRS.get(level)
    if members:
        steps = [anchor + level_energy(element, m) - tabulated for m in members]
        weights = list(PAIR_WEIGHTS[level])
    else:
        steps, weights = [anchor], [1.0]
    cfg = {"grid": grid, "steps_ev": steps, "step_weights": weights, "step_width_ev": float(rel["step_width_ev"])}
    if level == "K":
        cfg["edge_window"] = _shifted(rel["edge_window"], anchor)
        cfg["white_line_window"] = _shifted(rel["white_line_window"], anchor)
    if level == "L":  # L3 white line up to midway to L2, L2 from there to the post-edge
        mid = (steps[0] + steps[1]) / 2
        cfg["l3_window"] = [steps[0] + rel["pre_edge"][1], mid]
        cfg["l2_window"] = [mid, steps[1] + rel["post_edge"][0]]
    return cfg


def edge_setup(meta: Mapping[str, Any], energy: np.ndarray, mu: np.ndarray | None,
               params: Mapping[str, Any]) -> EdgeSetup:
    """Grid, windows and E0 of one spectrum (``energy`` calibrated, ``mu`` any absorption-like signal)."""
    norm = params["normalisation"]
    element, level, name = meta["element"], meta["edge_level"], meta["edge"]
    tabulated = level_energy(element, level)
    top = level_energy(element, PAIRS[level][1]) if level in PAIRS else tabulated
    rel = norm["soft"] if tabulated < float(norm["soft_below_ev"]) else norm["hard"]
    e0 = measured_e0(energy, mu, tabulated, float(norm["e0_search_ev"]))
    flags = [] if e0 is not None else [(
        f"e0_not_measured: no rise of the absorption at the tabulated {name} energy {tabulated:.1f} eV in "
        f"{np.nanmin(energy):.1f}-{np.nanmax(energy):.1f} eV; windows placed around the tabulated energy")]
    anchor = e0 if e0 is not None else tabulated
    section = params["edges"].get(name)
    cfg = dict(section) if section else _generated(element, level, energy, rel, anchor, tabulated)
    mode = (section or {}).get("windows") or norm["windows"]
    if mode == "absolute" and (cfg.get("pre_edge") is None or cfg.get("post_edge") is None):
        mode = "relative"
        flags.append(f"windows_relative: absolute windows asked for but edges.{name} gives no pre_edge/post_edge")
    if mode == "relative":
        cfg["pre_edge"] = _shifted(rel["pre_edge"], anchor)
        cfg["post_edge"] = _shifted(rel["post_edge"], anchor + top - tabulated)
    return EdgeSetup(cfg, e0, mode, flags)


def points_in(energy: np.ndarray, valid: np.ndarray, window: tuple[float, float]) -> int:
    e = np.asarray(energy, dtype=float)
    return int(((e >= window[0]) & (e <= window[1]) & valid).sum())


def short_windows(energy: np.ndarray, valid: np.ndarray, cfg: Mapping[str, Any], min_points: int,
                  names: tuple[str, ...]) -> dict[str, str]:
    """Window name -> flag for each of ``names`` in ``cfg`` holding fewer than ``min_points`` measured
    points (``valid``: finite absorption at the calibrated raw ``energy``)."""
    out = {}
    for name in names:
        window = cfg.get(name)
        if window is None:
            continue
        n = points_in(energy, valid, window)
        if n < min_points:
            out[name] = (f"{name}_too_short: {window[0]:.1f}-{window[1]:.1f} eV holds {n} measured point"
                         f"{'' if n == 1 else 's'} (needs {min_points})")
    return out
