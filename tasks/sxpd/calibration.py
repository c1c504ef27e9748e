"""Beamtime calibration from a standard pattern (Si, a = 5.431 Å): wavelength, zero offset, Caglioti.

Model: 2θ_obs = 2·asin(λ / 2d) + z for every indexed standard reflection, with the lattice of the
standard fixed, solved by weighted Gauss–Newton on (λ, z). Reflection positions are the modes of
split pseudo-Voigt fits, so the low-angle asymmetry (axial divergence) widens the low-angle side
without pulling the position. Instrument widths follow Caglioti: H² = U tan²θ + V tanθ + W.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foundation.contract import UnreadableFile
from tasks.sxpd.crystallography import (
    Reflections,
    lorentz_polarisation,
    silicon_reflections,
    two_theta_deg,
)
from tasks.sxpd.peakfit import fit_groups, group_reflections
from tasks.sxpd.search import excess, template_score


@dataclass
class Calibration:
    wavelength_angstrom: float
    wavelength_sigma_angstrom: float
    zero_offset_deg: float
    zero_offset_sigma_deg: float
    caglioti_u_deg2: float
    caglioti_v_deg2: float
    caglioti_w_deg2: float
    rms_residual_deg: float
    max_residual_deg: float
    n_reflections: int
    standard: str
    standard_a_angstrom: float
    peaks: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def instrument_fwhm_deg(self, two_theta: np.ndarray) -> np.ndarray:
        return caglioti_fwhm(two_theta, self.caglioti_u_deg2, self.caglioti_v_deg2, self.caglioti_w_deg2)


def caglioti_fwhm(two_theta: np.ndarray, u: float, v: float, w: float) -> np.ndarray:
    t = np.tan(np.radians(np.asarray(two_theta)) / 2.0)
    return np.sqrt(np.clip(u * t * t + v * t + w, 1e-12, None))


def fit_wavelength_zero(d: np.ndarray, observed: np.ndarray, sigma: np.ndarray, wavelength0: float,
                        iterations: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Gauss–Newton for (λ, z); returns parameters, covariance and residuals (deg)."""
    p = np.array([wavelength0, 0.0])
    w = 1.0 / sigma
    for _ in range(iterations):
        ratio = p[0] / (2.0 * d)
        model = np.degrees(2.0 * np.arcsin(ratio)) + p[1]
        d_lambda = np.degrees(2.0 / np.sqrt(1.0 - ratio**2) / (2.0 * d))
        J = np.column_stack([d_lambda, np.ones_like(d)]) * w[:, None]
        step, *_ = np.linalg.lstsq(J, (observed - model) * w, rcond=None)
        p = p + step
        if np.all(np.abs(step) < [1e-10, 1e-8]):
            break
    ratio = p[0] / (2.0 * d)
    residual = observed - (np.degrees(2.0 * np.arcsin(ratio)) + p[1])
    d_lambda = np.degrees(1.0 / np.sqrt(1.0 - ratio**2) / d)
    J = np.column_stack([d_lambda, np.ones_like(d)]) * w[:, None]
    chi2_red = float(((residual * w) ** 2).sum() / max(len(d) - 2, 1))
    cov = np.linalg.inv(J.T @ J) * max(chi2_red, 1.0)
    return p, cov, residual


def search_wavelength(x: np.ndarray, signal: np.ndarray, refl: Reflections, lo: float, hi: float) -> float:
    """λ whose predicted standard reflections collect the most intensity (coarse, then fine)."""
    weight = np.sqrt(refl.intensity / refl.intensity.max())

    def best(grid: np.ndarray) -> float:
        # 2θ depends on λ/d only: d/λ on a grid of λ gives every candidate's positions at once
        predicted = two_theta_deg(refl.d_angstrom[None, :] / grid[:, None], 1.0)
        return float(grid[np.argmax(template_score(x, signal, predicted, weight))])

    coarse = best(np.exp(np.arange(np.log(lo), np.log(hi), 2e-4)))
    return best(coarse * (1.0 + np.arange(-4e-4, 4e-4, 5e-6)))


def calibrate(x: np.ndarray, y: np.ndarray, sigma: np.ndarray, settings: dict[str, Any],
              source: str = "standard") -> Calibration:
    """Fit λ, zero offset and Caglioti widths from a standard pattern (``settings``: the calibration section)."""
    standard = settings.get("standard", "Si")
    if standard != "Si":
        raise UnreadableFile(f"{source}: calibration standard {standard!r} is not supported (only Si)")
    a_std = float(settings.get("standard_a_angstrom", 5.431))
    lo_deg = max(float(settings.get("min_two_theta_deg", 1.0)), float(x[0]))
    keep = x >= lo_deg
    x, y, sigma = x[keep], y[keep], sigma[keep]
    lam_lo, lam_hi = settings.get("wavelength_search_angstrom", [0.3, 1.7])
    refl = silicon_reflections(d_min=float(lam_lo) / 2.0)
    refl = Reflections(refl.phase, refl.h, refl.k, refl.l, refl.d_angstrom * a_std / 5.431, refl.intensity)
    signal = excess(x, y, float(settings.get("background_window_deg", 1.0)), float(settings.get("smooth_deg", 0.01)))
    lam0 = search_wavelength(x, signal, refl, float(lam_lo), float(lam_hi))
    pos0 = two_theta_deg(refl.d_angstrom, lam0)
    inside = np.isfinite(pos0) & (pos0 > x[0] + 0.2) & (pos0 < x[-1] - 0.2)
    lp = np.where(inside, refl.intensity * lorentz_polarisation(np.where(inside, pos0, 90.0)), 0.0)
    inside &= lp >= float(settings.get("min_relative_intensity", 0.002)) * lp.max()
    d, pos0 = refl.d_angstrom[inside], pos0[inside]
    labels = np.array(refl.labels)[inside]
    # start each peak at the local maximum near its prediction: the coarse λ is good to ~1e-5
    fwhm0 = np.full(len(pos0), float(settings.get("initial_fwhm_deg", 0.02)))
    pos0 = _local_maximum(x, signal, pos0, 2.0 * fwhm0)
    groups, fitted = group_reflections(pos0, fwhm0, float(settings.get("join_fwhm", 3.0)),
                                       float(settings.get("half_window_fwhm", 6.0)), 4)
    centre = 0.5 * (groups.lo + groups.hi)
    asym = centre < float(settings.get("asymmetry_below_deg", 20.0))
    fit = fit_groups(x, y, sigma, groups, pos0, fwhm0, np.zeros(len(pos0), bool), asym,
                     max_iterations=int(settings.get("max_iterations", 60)))
    ok = fitted & np.isfinite(fit.position_sigma) & (fit.position_sigma > 0) & (fit.area > 5 * fit.area_sigma)
    if ok.sum() < 4:
        raise UnreadableFile(f"{source}: only {int(ok.sum())} {standard} reflections could be fitted; a "
                             f"calibration needs at least 4 — is this really a {standard} standard pattern?")
    use = ok.copy()
    for _ in range(3):  # reject reflections that disagree with the rest (overlaps, glitches)
        p, cov, res = fit_wavelength_zero(d[use], fit.position[use], fit.position_sigma[use], lam0)
        ratio = p[0] / (2.0 * d)
        resid_all = fit.position - (np.degrees(2.0 * np.arcsin(np.clip(ratio, -1, 1))) + p[1])
        mad = 1.4826 * np.median(np.abs(res - np.median(res))) + 1e-6
        new_use = ok & (np.abs(resid_all) < float(settings.get("outlier_mad", 5.0)) * mad)
        if (new_use == use).all():
            break
        use = new_use
    p, cov, res = fit_wavelength_zero(d[use], fit.position[use], fit.position_sigma[use], lam0)
    uvw = _caglioti(fit.position[use], fit.fwhm[use], fit.fwhm_sigma[use])
    peaks = {"hkl": labels, "d_angstrom": d, "position_deg": fit.position, "position_sigma_deg": fit.position_sigma,
             "fwhm_deg": fit.fwhm, "fwhm_sigma_deg": fit.fwhm_sigma, "area": fit.area, "area_sigma": fit.area_sigma,
             "used": use, "residual_deg": np.where(use, fit.position - (np.degrees(2 * np.arcsin(p[0] / (2 * d))) + p[1]), np.nan),
             "alpha": fit.alpha}
    return Calibration(float(p[0]), float(np.sqrt(cov[0, 0])), float(p[1]), float(np.sqrt(cov[1, 1])),
                       *uvw, float(np.sqrt(np.mean(res**2))), float(np.abs(res).max()), int(use.sum()),
                       standard, a_std, peaks)


def _local_maximum(x: np.ndarray, signal: np.ndarray, centre: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    step = float(np.median(np.diff(x)))
    n = int(np.ceil(half_width.max() / step))
    idx = np.searchsorted(x, centre)[:, None] + np.arange(-n, n + 1)[None, :]
    idx = np.clip(idx, 0, len(x) - 1)
    return x[idx[np.arange(len(centre)), np.argmax(signal[idx], axis=1)]]


def _caglioti(position: np.ndarray, fwhm: np.ndarray, fwhm_sigma: np.ndarray) -> tuple[float, float, float]:
    t = np.tan(np.radians(position) / 2.0)
    w = 1.0 / np.maximum(2.0 * fwhm * fwhm_sigma, 1e-12)  # sigma of H²
    A = np.column_stack([t * t, t, np.ones_like(t)]) * w[:, None]
    sol, *_ = np.linalg.lstsq(A, fwhm**2 * w, rcond=None)
    return float(sol[0]), float(sol[1]), float(sol[2])
