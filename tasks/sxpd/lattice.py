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
class PositionFit:
    """What every fit of cells to peak positions reports besides the cells (also ``cell_fit.CellsFit``)."""

    zero_shift: float
    zero_shift_sigma: float
    chi2_red: float
    rms_residual_deg: float
    used: np.ndarray
    residual_deg: np.ndarray


@dataclass
class LatticeFit(PositionFit):
    a: float = np.nan
    a_sigma: float = np.nan
    c: float = np.nan
    c_sigma: float = np.nan

    @property
    def volume(self) -> float:
        return float(np.sqrt(3.0) / 2.0 * self.a**2 * self.c)

    @property
    def volume_sigma(self) -> float:
        v = self.volume
        return float(v * np.sqrt((2 * self.a_sigma / self.a) ** 2 + (self.c_sigma / self.c) ** 2))


def _model(p: np.ndarray, s_ab: np.ndarray, l2: np.ndarray, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
    """2θ and its Jacobian in (a, c[, z]) for reflections with s_ab = 4/3·(h² + hk + k²) and l2 = l²."""
    a, c = p[0], p[1]
    q = s_ab / a**2 + l2 / c**2  # 1/d²
    ratio = wavelength * np.sqrt(q) / 2.0
    tt = np.degrees(2.0 * np.arcsin(ratio)) + (p[2] if len(p) > 2 else 0.0)
    dtt_dq = np.degrees(2.0 / np.sqrt(1.0 - ratio**2) * wavelength / (4.0 * np.sqrt(q)))
    jacobian = np.ones((len(q), len(p)))  # the zero-shift column (when refined) stays 1
    jacobian[:, 0] = dtt_dq * (-2.0 * s_ab / a**3)
    jacobian[:, 1] = dtt_dq * (-2.0 * l2 / c**3)
    return tt, jacobian


def _gauss_newton_step(jacobian_w: np.ndarray, residual_w: np.ndarray) -> np.ndarray:
    """Least-squares step of the weighted system: normal equations (a 2×2 or 3×3 solve, far cheaper
    than an SVD per iteration); ``lstsq`` when they are singular."""
    try:
        return np.linalg.solve(jacobian_w.T @ jacobian_w, jacobian_w.T @ residual_w)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(jacobian_w, residual_w, rcond=None)[0]


def fit_lattice(hkl: np.ndarray, position: np.ndarray, sigma: np.ndarray, wavelength: float,
                a0: float, c0: float, refine_zero: bool, outlier_sigma: float = 5.0,
                sigma_floor_deg: float = 2e-5) -> LatticeFit | None:
    """Weighted least squares on the positions (already corrected for the calibration zero)."""
    sigma = np.maximum(sigma, sigma_floor_deg)
    weight = 1.0 / sigma
    h, k, l = hkl.T
    s_ab = 4.0 / 3.0 * (h * h + h * k + k * k)
    l2 = (l * l).astype(float)
    has_c, has_a = l != 0, (np.abs(h) + np.abs(k)) > 0
    use = np.isfinite(position) & np.isfinite(sigma)
    p = np.array([a0, c0, 0.0] if refine_zero else [a0, c0])
    for _ in range(4):
        n_par = len(p)
        # both families must be present, else a or c is undetermined
        if use.sum() < n_par + 1 or not (has_c & use).any() or not (has_a & use).any():
            return None
        s_use, l2_use, position_use, weight_use = s_ab[use], l2[use], position[use], weight[use]
        for _ in range(15):
            tt, J = _model(p, s_use, l2_use, wavelength)
            step = _gauss_newton_step(J * weight_use[:, None], (position_use - tt) * weight_use)
            p = p + step
            # Gauss–Newton converges quadratically here: after a step below 1e-6 Å the next would
            # be ~1e-13 Å, far below any σ(a, c) (~1e-5 Å)
            if np.all(np.abs(step[:2]) < 1e-6):
                break
        tt_all, _ = _model(p, s_ab, l2, wavelength)
        norm = (position - tt_all) / sigma
        chi2_red = float((norm[use] ** 2).sum() / max(use.sum() - n_par, 1))
        limit = outlier_sigma * np.sqrt(max(chi2_red, 1.0))
        new_use = use & (np.abs(norm) < limit) | (use & (np.abs(norm) == np.abs(norm[use]).min()))
        if (new_use == use).all():
            break
        use = new_use
    tt_all, J_all = _model(p, s_ab, l2, wavelength)
    w = weight[use]
    resid = position[use] - tt_all[use]
    chi2_red = float(((resid * w) ** 2).sum() / max(use.sum() - len(p), 1))
    Jw = J_all[use] * w[:, None]
    cov = np.linalg.pinv(Jw.T @ Jw) * max(chi2_red, 1.0)
    err = np.sqrt(np.diag(cov))
    return LatticeFit(float(p[2]) if refine_zero else 0.0, float(err[2]) if refine_zero else 0.0,
                      chi2_red, float(np.sqrt(np.mean(resid**2))), use, position - tt_all,
                      a=float(p[0]), a_sigma=float(err[0]), c=float(p[1]), c_sigma=float(err[1]))


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
    Aw = A * w[:, None]
    # pinv(AᵀA)·Aᵀ is the pseudo-inverse of A: the least-squares solution and the covariance from
    # one 2×2 pseudo-inverse
    normal_inv = np.linalg.pinv(Aw.T @ Aw)
    sol = normal_inv @ (Aw.T @ (y * w))
    resid = (y - A @ sol) * w
    chi2_red = float((resid**2).sum() / max(n - 2, 1))
    cov = normal_inv * max(chi2_red, 1.0)
    intercept, strain = sol
    size = scherrer_k * wavelength / intercept / 10.0 if intercept > 0 else None
    return WilliamsonHall(float(strain * 100.0), float(np.sqrt(cov[1, 1]) * 100.0), size, n,
                          "" if size is not None else "size unresolved: intercept ≤ 0 (no size broadening)")
