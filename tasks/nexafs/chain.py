"""The NEXAFS correction chain as pure functions on stacks of spectra.

Every function takes arrays shaped (n_spectra, n_points) (or broadcastable to it) so that one call
processes one spectrum in the pipeline and ten thousand in the benchmark. No Python loop runs over
spectra or points. The order of the chain (plugin.py and ``run_chain``):

  dark subtraction -> division by I0 -> energy calibration (shift) and regridding onto the common
  grid of the edge -> pre-edge line -> edge-step normalisation (two-step L3/L2 background for L
  edges) -> FY self-absorption correction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def as_stack(a: np.ndarray) -> np.ndarray:
    """A single spectrum becomes a stack of one; stacks pass unchanged."""
    a = np.asarray(a, dtype=float)
    return a[None, :] if a.ndim == 1 else a


def subtract_dark(counts: np.ndarray, dark: np.ndarray | float) -> np.ndarray:
    """Detector reading minus its dark value (same unit), per spectrum."""
    counts = as_stack(counts)
    return counts - np.asarray(dark, dtype=float).reshape(-1, 1)


def divide_by_i0(signal: np.ndarray, i0: np.ndarray) -> np.ndarray:
    """Signal per incident flux; points where I0 is not positive become NaN (beam lost)."""
    signal, i0 = as_stack(signal), as_stack(i0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(i0 > 0, signal / np.where(i0 > 0, i0, 1.0), np.nan)


def interp_rows(x: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Linear interpolation row by row without a loop (each row of x increasing).

    Rows are separated by adding a per-row offset larger than any span so that one global
    searchsorted serves every row. Queries outside a row's range give NaN.
    """
    x, y, xq = as_stack(x), as_stack(y), as_stack(xq)
    n = max(x.shape[0], y.shape[0], xq.shape[0])
    x = np.broadcast_to(x, (n, x.shape[1]))
    y = np.broadcast_to(y, (n, y.shape[1]))
    xq = np.broadcast_to(xq, (n, xq.shape[1]))
    lo = np.minimum(x[:, :1], xq.min(axis=1, keepdims=True))
    hi = np.maximum(x[:, -1:], xq.max(axis=1, keepdims=True))
    span = float(np.max(hi - lo)) * 2.0 + 1.0
    offset = (np.arange(n) * span)[:, None]
    xf = (x - lo + offset).ravel()
    qf = (xq - lo + offset)
    k = x.shape[1]
    idx = np.searchsorted(xf, qf.ravel(), side="right").reshape(n, -1) - 1
    row_start = (np.arange(n) * k)[:, None]
    local = np.clip(idx - row_start, 0, k - 2)
    g = local + row_start
    x0, x1 = xf[g], xf[g + 1]
    yf = y.ravel()
    y0, y1 = yf[g], yf[g + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qf - x0) / (x1 - x0)
    out = y0 + t * (y1 - y0)
    outside = (xq < x[:, :1]) | (xq > x[:, -1:])
    return np.where(outside, np.nan, out)


def window_mask(energy: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    energy = np.asarray(energy, dtype=float)
    return (energy >= window[0]) & (energy <= window[1])


def peak_position(energy: np.ndarray, y: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Energy of the maximum of each row inside ``window``, refined by a parabola through the
    maximum and its two neighbours (sub-step precision; needed because a 0.1 eV calibration error
    already moves a Ni2+ fraction by ~0.02)."""
    energy = np.asarray(energy, dtype=float)
    y = as_stack(y)
    if energy.ndim == 1:
        energy = np.broadcast_to(energy, y.shape)
    inside = window_mask(energy, window)
    masked = np.where(inside & np.isfinite(y), y, -np.inf)
    i = np.argmax(masked, axis=1)
    ok = np.isfinite(masked[np.arange(len(i)), i])
    i = np.clip(i, 1, y.shape[1] - 2)
    rows = np.arange(y.shape[0])
    ym, y0, yp = y[rows, i - 1], y[rows, i], y[rows, i + 1]
    denom = ym - 2 * y0 + yp
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(denom < 0, 0.5 * (ym - yp) / denom, 0.0)
    frac = np.clip(np.nan_to_num(frac), -1.0, 1.0)
    e_i = energy[rows, i]
    step = np.where(frac >= 0, energy[rows, i + 1] - e_i, e_i - energy[rows, i - 1])
    return np.where(ok, e_i + frac * step, np.nan)


def regrid(raw_energy: np.ndarray, channels: dict[str, np.ndarray], shift_ev: np.ndarray,
           grid: np.ndarray) -> dict[str, np.ndarray]:
    """Every channel sampled on the common grid of calibrated energies (raw energy + shift)."""
    calibrated = as_stack(raw_energy) + np.asarray(shift_ev, dtype=float).reshape(-1, 1)
    g = np.asarray(grid, dtype=float)[None, :]
    return {name: interp_rows(calibrated, values, g) for name, values in channels.items()}


def linear_fit(energy: np.ndarray, y: np.ndarray, window: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through each row inside ``window`` (closed form on masked sums)."""
    energy = np.asarray(energy, dtype=float)
    y = as_stack(y)
    w = (window_mask(energy, window)[None, :] & np.isfinite(y)).astype(float)
    yz = np.where(w > 0, y, 0.0)
    e = np.broadcast_to(energy, y.shape)
    n = w.sum(axis=1)
    se, sy = (w * e).sum(axis=1), (w * yz).sum(axis=1)
    see, sey = (w * e * e).sum(axis=1), (w * e * yz).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sey - se * sy) / (n * see - se * se)
        intercept = (sy - slope * se) / n
    return slope, intercept


def pre_edge_line(energy: np.ndarray, mu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    slope, intercept = linear_fit(energy, mu, window)
    return slope[:, None] * np.asarray(energy, dtype=float)[None, :] + intercept[:, None]


def edge_background_fit(energy: np.ndarray, mu: np.ndarray, pre: tuple[float, float], post: tuple[float, float],
                        step_model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-edge line and edge step fitted together: mu ~ a + b (E - E_pre) + c step_model(E) on the
    pre- and post-edge windows.

    Fitting the line alone would let the low-energy tail of the edge (arctan-like) tilt it, which
    inflates every normalised spectrum and breaks the non-linear FY self-absorption inversion.
    Returns the line (n, m) and the step c (n,), i.e. the edge jump in units of mu.
    """
    energy = np.asarray(energy, dtype=float)
    y = as_stack(mu)
    e_rel = energy - pre[0]
    design = np.stack([np.ones_like(energy), e_rel, np.asarray(step_model, dtype=float)], axis=1)  # (m, 3)
    w = ((window_mask(energy, pre) | window_mask(energy, post))[None, :] & np.isfinite(y)).astype(float)
    yz = np.where(w > 0, y, 0.0)
    ata = np.einsum("nm,mi,mj->nij", w, design, design)
    aty = np.einsum("nm,mi->ni", w * yz, design)
    singular = np.abs(np.linalg.det(ata)) < 1e-300
    ata[singular] = np.eye(3)
    coef = np.linalg.solve(ata, aty[..., None])[..., 0]
    coef[singular] = np.nan
    line = coef[:, :1] + coef[:, 1:2] * e_rel[None, :]
    return line, coef[:, 2]


def window_mean(energy: np.ndarray, y: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    y = as_stack(y)
    m = window_mask(energy, window)[None, :] & np.isfinite(y)
    with np.errstate(invalid="ignore"):
        return np.where(m, y, 0.0).sum(axis=1) / m.sum(axis=1)


def step_function(energy: np.ndarray, edges_ev: list[float], weights: list[float], width_ev: float,
                  post_window: tuple[float, float]) -> np.ndarray:
    """Arctan steps (one per edge, e.g. L3 and L2 with weights 2:1), scaled to 1 on the post-edge
    window so that it matches the normalised spectrum there."""
    energy = np.asarray(energy, dtype=float)
    total = np.zeros_like(energy)
    for e0, w in zip(edges_ev, weights):
        total += w * (0.5 + np.arctan((energy - e0) / width_ev) / np.pi)
    inside = window_mask(energy, post_window)
    level = total[inside].mean() if inside.any() else np.nan  # an empty window: no step (flagged upstream)
    return total / level


def integrate(energy: np.ndarray, y: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Trapezoid integral of each row over ``window`` (unit: unit(y) * eV)."""
    energy = np.asarray(energy, dtype=float)
    m = window_mask(energy, window)
    e, yy = energy[m], as_stack(y)[:, m]
    return np.trapezoid(yy, e, axis=1)


def centroid(energy: np.ndarray, y: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    energy = np.asarray(energy, dtype=float)
    m = window_mask(energy, window)
    e, yy = energy[m], np.clip(as_stack(y)[:, m], 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.trapezoid(yy * e, e, axis=1) / np.trapezoid(yy, e, axis=1)


def half_step_energy(energy: np.ndarray, normalised: np.ndarray, window: tuple[float, float],
                     level: float = 0.5) -> np.ndarray:
    """First energy in ``window`` where the normalised spectrum crosses ``level`` (linear interp)."""
    energy = np.asarray(energy, dtype=float)
    y = as_stack(normalised)
    m = window_mask(energy, window)
    e, yy = energy[m], y[:, m]
    above = yy >= level
    crossing = above[:, 1:] & ~above[:, :-1]
    has = crossing.any(axis=1)
    i = np.argmax(crossing, axis=1)
    rows = np.arange(len(i))
    y0, y1 = yy[rows, i], yy[rows, i + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (level - y0) / (y1 - y0)
    return np.where(has, e[i] + t * (e[i + 1] - e[i]), np.nan)


def smooth_rows(y: np.ndarray, points: int) -> np.ndarray:
    """Boxcar smoothing along each row (odd ``points``; edges use the shorter window)."""
    y = as_stack(y)
    if points <= 1:
        return y
    pad = points // 2
    filled = np.nan_to_num(y)
    c = np.cumsum(np.pad(filled, ((0, 0), (pad + 1, pad)), mode="edge"), axis=1)
    return (c[:, points:] - c[:, :-points]) / points


def first_inflection(energy: np.ndarray, mu: np.ndarray, window: tuple[float, float],
                     smooth_points: int = 3, fraction: float = 0.5) -> np.ndarray:
    """First local maximum of dmu/dE in ``window`` that reaches ``fraction`` of the largest one."""
    energy = np.asarray(energy, dtype=float)
    d = np.gradient(smooth_rows(mu, smooth_points), energy, axis=1)
    m = window_mask(energy, window)
    e, dd = energy[m], d[:, m]
    is_max = np.zeros_like(dd, dtype=bool)
    is_max[:, 1:-1] = (dd[:, 1:-1] >= dd[:, :-2]) & (dd[:, 1:-1] > dd[:, 2:])
    strong = is_max & (dd >= fraction * np.nanmax(dd, axis=1, keepdims=True))
    has = strong.any(axis=1)
    i = np.clip(np.argmax(strong, axis=1), 1, len(e) - 2)
    rows = np.arange(len(i))
    ym, y0, yp = dd[rows, i - 1], dd[rows, i], dd[rows, i + 1]
    denom = ym - 2 * y0 + yp
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(np.nan_to_num(np.where(denom < 0, 0.5 * (ym - yp) / denom, 0.0)), -1, 1)
    return np.where(has, e[i] + frac * (e[i + 1] - e[i]), np.nan)


def self_absorption_correct(normalised_fy: np.ndarray, ratio: float | np.ndarray) -> np.ndarray:
    """Invert thick-sample FY self-absorption for a spectrum normalised to 1 above the edge.

    With x the true normalised absorption of the edge element and r = (mu_background(E) +
    g * mu_total(E_fluorescence)) / mu_edge_jump (g = sin(incidence)/sin(exit)), the measured
    normalised FY is f = x (1 + r) / (x + r); hence x = f r / (1 + r - f).
    """
    f = as_stack(normalised_fy)
    r = np.asarray(ratio, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return f * r / (1.0 + r - f)


def self_absorb(true_normalised: np.ndarray, ratio: float | np.ndarray) -> np.ndarray:
    """Forward model of ``self_absorption_correct`` (used by the demo and by tests)."""
    x = as_stack(true_normalised)
    r = np.asarray(ratio, dtype=float)
    return x * (1.0 + r) / (x + r)


@dataclass
class LinearCombination:
    coefficients: np.ndarray  # (n, k)
    covariance: np.ndarray  # (n, k, k)
    residual_rms: np.ndarray  # (n,)


def linear_combination_fit(energy: np.ndarray, spectra: np.ndarray, components: np.ndarray,
                           window: tuple[float, float]) -> LinearCombination:
    """Least squares spectra ~ c @ components inside ``window`` for every row at once.

    ``components`` is (k, n_points) on the same grid. The covariance is the residual variance
    times (A^T A)^-1, the usual estimate for independent equal-variance noise.
    """
    energy = np.asarray(energy, dtype=float)
    y = as_stack(spectra)
    comps = as_stack(components)
    m = window_mask(energy, window) & np.all(np.isfinite(comps), axis=0)
    a = comps[:, m].T  # (p, k)
    yy = y[:, m]
    good = np.all(np.isfinite(yy), axis=1)
    yy = np.where(np.isfinite(yy), yy, 0.0)
    ata_inv = np.linalg.inv(a.T @ a)
    coef = yy @ a @ ata_inv.T  # (n, k)
    resid = yy - coef @ a.T
    dof = max(a.shape[0] - a.shape[1], 1)
    var = (resid**2).sum(axis=1) / dof
    cov = var[:, None, None] * ata_inv[None, :, :]
    coef = np.where(good[:, None], coef, np.nan)
    return LinearCombination(coef, cov, np.where(good, np.sqrt(var), np.nan))


def fraction_of_first(fit: LinearCombination) -> tuple[np.ndarray, np.ndarray]:
    """Share of the first component, c0/(c0+c1), and its standard error by error propagation."""
    c0, c1 = fit.coefficients[:, 0], fit.coefficients[:, 1]
    s = c0 + c1
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = c0 / s
        # d(frac)/dc0 = c1/s^2, d(frac)/dc1 = -c0/s^2
        g0, g1 = c1 / s**2, -c0 / s**2
    cov = fit.covariance
    var = g0**2 * cov[:, 0, 0] + g1**2 * cov[:, 1, 1] + 2 * g0 * g1 * cov[:, 0, 1]
    return frac, np.sqrt(np.clip(var, 0, None))


def bounded_fraction(energy: np.ndarray, spectra: np.ndarray, components: np.ndarray,
                     window: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Share of the first of two end members with both weights non-negative, so within [0, 1].

    Returns (fraction, sigma, unconstrained fraction, at_bound). Where the free fit gives a negative
    weight, the constrained optimum is one end member alone (the one with the smaller residual):
    fraction 1 or 0, flagged by ``at_bound``. ``sigma`` is the free fit's standard error, the
    uncertainty of the fraction the data determine, also at a bound.
    """
    fit = linear_combination_fit(energy, spectra, components, window)
    free, sigma = fraction_of_first(fit)
    inside = window_mask(energy, window) & np.all(np.isfinite(as_stack(components)), axis=0)
    y = np.nan_to_num(as_stack(spectra)[:, inside])
    comps = as_stack(components)[:, inside]
    residual = []
    for c in comps:  # two end members: the fit with each alone (non-negative scale)
        scale = np.clip(y @ c / (c @ c), 0.0, None)
        residual.append(((y - scale[:, None] * c[None, :]) ** 2).sum(axis=1))
    at_bound = np.any(fit.coefficients < 0, axis=1)
    alone = np.where(residual[0] <= residual[1], 1.0, 0.0)
    return np.where(at_bound, alone, free), sigma, free, at_bound & np.isfinite(free)
