"""Dual AC resonance tracking (DART): resonance frequency, Q and drive from two sidebands.

A damped simple harmonic oscillator H(f) = A·f0² / (f² − i·f·f0/Q − f0²) is read by a lock-in at
f1 < f0 < f2 as M_k = A_k·exp(i·φ_k). The closed form (Rodriguez 2007, Gannepalli 2011):

    R       = (1/M1 − 1/M2) / (f2/M1 − f1/M2)
    f0²     = (f1 + f2)/Re R − f1·f2
    f0/Q    = −Im R · (f1 + f2)/Re R
    A_drive = |(f1 − f2)·((f1 + f2) − i·f0/Q) / ((1/M1 − 1/M2)·f0²)|

A is the amplitude at resonance divided by Q, so A / V_drive is the Q-corrected ESM amplitude.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def sideband_signal(a: np.ndarray, phase_deg: np.ndarray) -> np.ndarray:
    return a * np.exp(1j * np.deg2rad(phase_deg))


def sho_response(f: np.ndarray | float, f0: np.ndarray | float, q: np.ndarray | float,
                 a: np.ndarray | float) -> np.ndarray:
    """H(f) of the oscillator above (|H(f0)| = A·Q)."""
    f = np.asarray(f, dtype=float)
    return a * f0**2 / (f**2 - 1j * f * f0 / q - f0**2)


def sho_from_sidebands(m1: np.ndarray, m2: np.ndarray, f1: np.ndarray | float,
                       f2: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f0, Q, A) per pixel from complex sideband readings; NaN where the model does not fit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv1, inv2 = 1.0 / m1, 1.0 / m2
        r = (inv1 - inv2) / (f2 * inv1 - f1 * inv2)
        f0_sq = (f1 + f2) / r.real - f1 * f2
        f0 = np.sqrt(np.where(f0_sq > 0, f0_sq, np.nan))
        f0_over_q = -r.imag * (f1 + f2) / r.real
        q = np.where(f0_over_q > 0, f0 / f0_over_q, np.nan)
        a = np.abs((f1 - f2) * ((f1 + f2) - 1j * f0_over_q) / ((inv1 - inv2) * f0_sq))
    return f0, q, np.where(np.isfinite(q), a, np.nan)


def _nan_median_filter(x: np.ndarray, size: int) -> np.ndarray:
    filled = np.where(np.isfinite(x), x, np.nanmedian(x))
    return ndimage.median_filter(filled, size=size, mode="nearest")


def dart_drive_amplitude(a1: np.ndarray, p1: np.ndarray, a2: np.ndarray, p2: np.ndarray, f1: np.ndarray,
                         f2: np.ndarray, smooth_px: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust per-pixel (f0, Q, A) for noisy maps.

    f0 and Q vary slowly across a map but the closed form amplifies sideband noise, so both are
    median-filtered over ``smooth_px`` before A is taken from each sideband magnitude and averaged;
    ``smooth_px`` <= 1 returns the closed form itself.
    """
    m1, m2 = sideband_signal(a1, p1), sideband_signal(a2, p2)
    f0, q, a = sho_from_sidebands(m1, m2, f1, f2)
    if smooth_px <= 1:
        return f0, q, a
    f0s, qs = _nan_median_filter(f0, smooth_px), _nan_median_filter(q, smooth_px)
    a_from_1 = a1 * np.abs(f1**2 - 1j * f1 * f0s / qs - f0s**2) / f0s**2
    a_from_2 = a2 * np.abs(f2**2 - 1j * f2 * f0s / qs - f0s**2) / f0s**2
    return f0s, qs, 0.5 * (a_from_1 + a_from_2)
