"""Weppner–Huggins diffusion coefficients (SCIENCE.md, finding 5)."""
from __future__ import annotations

import numpy as np


def particle_area_m2(active_mass_g: float, molar_volume_m3_mol: float, molar_mass_g_mol: float,
                     radius_m: float) -> float:
    """Surface of spherical particles of radius r holding the active mass: S = 3 m V_M / (M r)."""
    return 3.0 * active_mass_g * molar_volume_m3_mol / (molar_mass_g_mol * radius_m)


def d_from_ratio(tau_s, delta_es_v, delta_et_v, *, active_mass_g, molar_volume_m3_mol, molar_mass_g_mol, area_m2):
    """D = 4/(πτ) · (m V_M / (M S))² · (ΔE_s/ΔE_t)²  (valid for τ ≪ L²/D)."""
    tau = np.asarray(tau_s, dtype="float64")
    geom = active_mass_g * molar_volume_m3_mol / (molar_mass_g_mol * area_m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 4.0 / (np.pi * tau) * geom**2 * (np.asarray(delta_es_v) / np.asarray(delta_et_v)) ** 2


def d_from_sqrt_slope(tau_s, delta_es_v, slope_v_per_sqrt_s, *, active_mass_g, molar_volume_m3_mol,
                      molar_mass_g_mol, area_m2):
    """D = 4/π · (m V_M / (M S))² · (ΔE_s / (τ · dE/d√t))²  — the form that uses the slope of E vs √t."""
    tau = np.asarray(tau_s, dtype="float64")
    geom = active_mass_g * molar_volume_m3_mol / (molar_mass_g_mol * area_m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 4.0 / np.pi * geom**2 * (np.asarray(delta_es_v) / (tau * np.asarray(slope_v_per_sqrt_s))) ** 2
