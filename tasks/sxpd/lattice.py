"""Lattice parameters of the R-3m cell from indexed positions, and Williamson–Hall broadening.

Lattice: 2θ_i = 2·asin(λ/2d_i(a, c)) + z, weighted Gauss–Newton on (a, c[, z]) with iterative
rejection of reflections that disagree by more than ``outlier_sigma`` (an unrecognised overlap).
Williamson–Hall: β·cosθ = Kλ/L + 4ε·sinθ with β the sample breadth (radians) after subtracting the
instrument width in quadrature; fitted for all reflections and for the 00l and hk0 families, each
only when it has enough usable reflections (else reported as underdetermined).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass
class LatticeFit:
    a: float
    a_sigma: float
    c: float
    c_sigma: float
    zero_shift: float
    zero_shift_sigma: float
    chi2_red: float
    rms_residual_deg: float
    used: np.ndarray
    residual_deg: np.ndarray

    @property
    def volume(self) -> float:
        return float(np.sqrt(3.0) / 2.0 * self.a**2 * self.c)

    @property
    def volume_sigma(self) -> float:
        v = self.volume
        return float(v * np.sqrt((2 * self.a_sigma / self.a) ** 2 + (self.c_sigma / self.c) ** 2))


def _model(p: np.ndarray, hkl: np.ndarray, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
    a, c = p[0], p[1]
    h, k, l = hkl.T
    s_ab = 4.0 / 3.0 * (h * h + h * k + k * k)
    q = s_ab / a**2 + l * l / c**2  # 1/d²
    ratio = wavelength * np.sqrt(q) / 2.0
    tt = np.degrees(2.0 * np.arcsin(ratio)) + (p[2] if len(p) > 2 else 0.0)
    dtt_dq = np.degrees(2.0 / np.sqrt(1.0 - ratio**2) * wavelength / (4.0 * np.sqrt(q)))
    cols = [dtt_dq * (-2.0 * s_ab / a**3), dtt_dq * (-2.0 * l * l / c**3)]
    if len(p) > 2:
        cols.append(np.ones_like(q))
    return tt, np.column_stack(cols)


def fit_lattice(hkl: np.ndarray, position: np.ndarray, sigma: np.ndarray, wavelength: float,
                a0: float, c0: float, refine_zero: bool, outlier_sigma: float = 5.0,
                sigma_floor_deg: float = 2e-5) -> LatticeFit | None:
    """Weighted least squares on the positions (already corrected for the calibration zero)."""
    sigma = np.maximum(sigma, sigma_floor_deg)
    use = np.isfinite(position) & np.isfinite(sigma)
    p = np.array([a0, c0, 0.0] if refine_zero else [a0, c0])
    for _ in range(4):
        n_par = len(p)
        # both families must be present, else a or c is undetermined
        if use.sum() < n_par + 1 or not (hkl[use, 2] != 0).any() or not (np.abs(hkl[use, :2]).sum(axis=1) > 0).any():
            return None
        for _ in range(15):
            tt, J = _model(p, hkl[use], wavelength)
            w = 1.0 / sigma[use]
            step, *_ = np.linalg.lstsq(J * w[:, None], (position[use] - tt) * w, rcond=None)
            p = p + step
            if np.all(np.abs(step[:2]) < 1e-9):
                break
        tt_all, _ = _model(p, hkl, wavelength)
        norm = (position - tt_all) / sigma
        chi2_red = float((norm[use] ** 2).sum() / max(use.sum() - n_par, 1))
        limit = outlier_sigma * np.sqrt(max(chi2_red, 1.0))
        new_use = use & (np.abs(norm) < limit) | (use & (np.abs(norm) == np.abs(norm[use]).min()))
        if (new_use == use).all():
            break
        use = new_use
    tt, J = _model(p, hkl[use], wavelength)
    w = 1.0 / sigma[use]
    resid = position[use] - tt
    chi2_red = float(((resid * w) ** 2).sum() / max(use.sum() - len(p), 1))
    cov = np.linalg.pinv((J * w[:, None]).T @ (J * w[:, None])) * max(chi2_red, 1.0)
    err = np.sqrt(np.diag(cov))
    tt_all, _ = _model(p, hkl, wavelength)
    return LatticeFit(float(p[0]), float(err[0]), float(p[1]), float(err[1]),
                      float(p[2]) if refine_zero else 0.0, float(err[2]) if refine_zero else 0.0,
                      chi2_red, float(np.sqrt(np.mean(resid**2))), use, position - tt_all)


@dataclass
class WilliamsonHall:
    microstrain_pct: float | None
    microstrain_sigma_pct: float | None
    size_nm: float | None
    n_reflections: int
    flag: str  # "" when fitted, else why not


def williamson_hall(position_deg: np.ndarray, fwhm_deg: np.ndarray, fwhm_sigma_deg: np.ndarray,
                    instrument_fwhm_deg: np.ndarray, wavelength: float, scherrer_k: float,
                    min_reflections: int) -> WilliamsonHall:
    """β·cosθ = Kλ/L + 4ε·sinθ, weighted by the width uncertainties."""
    beta2 = fwhm_deg**2 - instrument_fwhm_deg**2
    ok = np.isfinite(beta2) & (beta2 > 0) & np.isfinite(fwhm_sigma_deg) & (fwhm_sigma_deg > 0)
    n = int(ok.sum())
    if n < min_reflections:
        return WilliamsonHall(None, None, None, n, f"underdetermined: {n} usable reflections < {min_reflections}")
    th = np.radians(position_deg[ok]) / 2.0
    beta = np.radians(np.sqrt(beta2[ok]))
    sig = np.radians(np.maximum(fwhm_sigma_deg[ok], 1e-5)) * fwhm_deg[ok] / np.sqrt(beta2[ok])
    y = beta * np.cos(th)
    w = 1.0 / (sig * np.cos(th))
    A = np.column_stack([np.ones_like(th), 4.0 * np.sin(th)])
    sol, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    resid = (y - A @ sol) * w
    chi2_red = float((resid**2).sum() / max(n - 2, 1))
    cov = np.linalg.pinv((A * w[:, None]).T @ (A * w[:, None])) * max(chi2_red, 1.0)
    intercept, strain = sol
    size = scherrer_k * wavelength / intercept / 10.0 if intercept > 0 else None
    return WilliamsonHall(float(strain * 100.0), float(np.sqrt(cov[1, 1]) * 100.0), size, n,
                          "" if size is not None else "size unresolved: intercept ≤ 0 (no size broadening)")
