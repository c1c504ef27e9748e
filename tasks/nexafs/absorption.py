"""Attenuation from tabulated cross sections (xraydb) for the FY self-absorption correction.

Only ratios of attenuation coefficients enter the correction, so the density cancels; the
composition and the measurement geometry decide it.
"""
from __future__ import annotations

from functools import lru_cache
import math


@lru_cache(maxsize=64)
def self_absorption_ratio(formula: str, element: str, edge_level: str, below_edge_ev: float,
                          above_edge_ev: float, incidence_deg: float, exit_deg: float,
                          fluorescence_ev: float | None = None) -> float:
    """r = (mu_background + g * mu_total(E_fluorescence)) / mu_edge_jump, with g = sin(in)/sin(out).

    mu_background is the compound's attenuation just below the edge (all other elements and
    shells); the edge jump is its rise from ``below_edge_ev`` to ``above_edge_ev``. The
    fluorescence energy defaults to the strongest line of ``element`` from ``edge_level``.
    """
    import xraydb

    if fluorescence_ev is None:
        lines = xraydb.xray_lines(element, edge_level)
        if not lines:
            raise ValueError(f"xraydb lists no emission line of {element} {edge_level}")
        fluorescence_ev = max(lines.values(), key=lambda line: line.intensity).energy
    density = 1.0  # cancels in the ratio
    mu_below, mu_above, mu_fluo = (float(v) for v in xraydb.material_mu(
        formula, [below_edge_ev, above_edge_ev, fluorescence_ev], density=density))
    jump = mu_above - mu_below
    if jump <= 0:
        raise ValueError(f"no {element} {edge_level} edge jump in {formula} between {below_edge_ev} "
                         f"and {above_edge_ev} eV; check the edge windows in the parameter set")
    g = math.sin(math.radians(incidence_deg)) / math.sin(math.radians(exit_deg))
    return (mu_below + g * mu_fluo) / jump
