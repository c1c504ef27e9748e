"""Cells of several phases and one zero shift from indexed peak positions, on the reciprocal metric tensor.

2θ_i = 2·asin(λ/2·sqrt(X_i·p)) + z with p the phases' free metric parameters stacked (``metric``):
weighted Gauss–Newton with iterative rejection of reflections further than ``outlier_sigma`` from
the fit (an unrecognised overlap), as ``lattice.fit_lattice`` does for the R-3m (a, c) case. The
cell parameters (a, b, c, α, β, γ, V) and their standard errors follow from p and its covariance
(a numerical Jacobian of the cell with respect to p); a parameter fixed by symmetry gets σ 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tasks.sxpd.lattice import PositionFit
from tasks.sxpd.metric import cell_from_metric


@dataclass
class CellResult:
    values: np.ndarray  # a, b, c, α, β, γ (Å, deg), V (Å³)
    sigmas: np.ndarray


@dataclass
class CellsFit(PositionFit):
    cells: dict[str, CellResult] = field(default_factory=dict)


def _two_theta(design: np.ndarray, p: np.ndarray, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
    """2θ (deg, without zero) and d2θ/d(1/d²)."""
    q = np.maximum(design @ p, 1e-12)
    ratio = np.minimum(wavelength * np.sqrt(q) / 2.0, 1.0 - 1e-12)
    return np.degrees(2.0 * np.arcsin(ratio)), np.degrees(wavelength / (2.0 * np.sqrt(q) * np.sqrt(1.0 - ratio**2)))


def _gauss_newton(design: np.ndarray, position: np.ndarray, weight: np.ndarray, p: np.ndarray, wavelength: float,
                  refine_zero: bool) -> np.ndarray:
    n_cell = design.shape[1]
    for _ in range(20):
        tt, slope = _two_theta(design, p[:n_cell], wavelength)
        model = tt + (p[n_cell] if refine_zero else 0.0)
        jac = slope[:, None] * design
        if refine_zero:
            jac = np.column_stack([jac, np.ones(len(tt))])
        jw, rw = jac * weight[:, None], (position - model) * weight
        step = np.linalg.lstsq(jw, rw, rcond=None)[0]
        p = p + step
        if np.all(np.abs(step[:n_cell]) <= 1e-12 * np.abs(p[:n_cell]).max()):
            break
    return p


def _cell_sigmas(p: np.ndarray, cov: np.ndarray, basis: np.ndarray) -> CellResult:
    values = cell_from_metric(p @ basis)
    jac, moved = np.empty((7, len(p))), np.zeros(7)
    for j in range(len(p)):
        h = 1e-6 * abs(p[j]) or 1e-9
        up, down = p.copy(), p.copy()
        up[j] += h
        down[j] -= h
        change = cell_from_metric(up @ basis) - cell_from_metric(down @ basis)
        jac[:, j] = change / (2 * h)
        moved = np.maximum(moved, np.abs(change))
    sig = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0))
    # a relative step of 1e-6 moves every free parameter by ~1e-6 of itself; one that moves by
    # rounding only (an angle fixed by symmetry) has σ 0
    sig[moved < 1e-9 * np.abs(values)] = 0.0
    return CellResult(values, sig)


def fit_cells(blocks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], position: np.ndarray, sigma: np.ndarray,
              wavelength: float, refine_zero: bool, outlier_sigma: float = 5.0,
              sigma_floor_deg: float = 2e-5) -> CellsFit | None:
    """``blocks``: per phase (name, design [n_i, k_i], start p [k_i], basis [k_i, 6]), rows in the order of
    ``position``/``sigma``. None when the positions cannot determine every phase's parameters."""
    n, k_total = len(position), sum(b[1].shape[1] for b in blocks)
    design = np.zeros((n, k_total))
    row = col = 0
    for _, d, _, _ in blocks:
        design[row:row + len(d), col:col + d.shape[1]] = d
        row, col = row + len(d), col + d.shape[1]
    sigma = np.maximum(sigma, sigma_floor_deg)
    weight = 1.0 / sigma
    p = np.concatenate([b[2] for b in blocks] + ([[0.0]] if refine_zero else []))
    use = np.isfinite(position) & np.isfinite(sigma)
    for _ in range(4):
        if use.sum() < len(p) + 1 or np.linalg.matrix_rank(design[use]) < k_total:
            return None
        p = _gauss_newton(design[use], position[use], weight[use], p, wavelength, refine_zero)
        norm = (position - _model(design, p, wavelength, refine_zero)) / sigma
        chi2_red = float((norm[use] ** 2).sum() / max(use.sum() - len(p), 1))
        keep = use & ((np.abs(norm) < outlier_sigma * np.sqrt(max(chi2_red, 1.0)))
                      | (np.abs(norm) == np.abs(norm[use]).min()))
        if (keep == use).all():
            break
        use = keep
    return _result(blocks, design, position, sigma, p, use, wavelength, refine_zero)


def _model(design: np.ndarray, p: np.ndarray, wavelength: float, refine_zero: bool) -> np.ndarray:
    n_cell = design.shape[1]
    return _two_theta(design, p[:n_cell], wavelength)[0] + (p[n_cell] if refine_zero else 0.0)


def _result(blocks, design, position, sigma, p, use, wavelength, refine_zero) -> CellsFit:
    n_cell = design.shape[1]
    tt, slope = _two_theta(design, p[:n_cell], wavelength)
    jac = slope[:, None] * design
    if refine_zero:
        jac = np.column_stack([jac, np.ones(len(tt))])
    resid = position - _model(design, p, wavelength, refine_zero)
    w = 1.0 / sigma[use]
    chi2_red = float(((resid[use] * w) ** 2).sum() / max(use.sum() - len(p), 1))
    jw = jac[use] * w[:, None]
    cov = np.linalg.pinv(jw.T @ jw) * max(chi2_red, 1.0)
    cells, col = {}, 0
    for name, d, _, basis in blocks:
        k = d.shape[1]
        cells[name] = _cell_sigmas(p[col:col + k], cov[col:col + k, col:col + k], basis)
        col += k
    z, zs = (float(p[-1]), float(np.sqrt(cov[-1, -1]))) if refine_zero else (0.0, 0.0)
    return CellsFit(z, zs, chi2_red, float(np.sqrt(np.mean(resid[use] ** 2))), use, resid, cells=cells)
