"""Pure statistics for the marts: bootstrap intervals, correlations, interpolation along SOC."""
from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (vectorised: one draw of n_boot x n indices)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    if v.size == 1:
        return float(v[0]), float(v[0])
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return float(lo), float(hi)


def pearson_spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan
    # Spearman's rho is Pearson's r of the (average) ranks
    from scipy import stats  # here: scipy.stats costs ~1 s to import, and a no-op run needs none of it

    return _pearson(x, y), _pearson(stats.rankdata(x), stats.rankdata(y))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xm, ym = x - x.mean(), y - y.mean()
    den = np.sqrt((xm * xm).sum() * (ym * ym).sum())
    return float((xm * ym).sum() / den) if den > 0 else np.nan


def bootstrap_r_ci(x: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of Pearson r over resampled (x, y) pairs, vectorised."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n < 3:
        return np.nan, np.nan
    idx = rng.integers(0, n, size=(n_boot, n))
    xs, ys = x[idx], y[idx]
    xs = xs - xs.mean(axis=1, keepdims=True)
    ys = ys - ys.mean(axis=1, keepdims=True)
    den = np.sqrt((xs**2).sum(axis=1) * (ys**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xs * ys).sum(axis=1) / den
    r = r[np.isfinite(r)]
    if r.size == 0:
        return np.nan, np.nan
    a = (1 - level) / 2
    lo, hi = np.quantile(r, [a, 1 - a])
    return float(lo), float(hi)


def interpolate_soc(soc_known: np.ndarray, values: np.ndarray, soc_target: np.ndarray) -> np.ndarray:
    """Linear interpolation along SOC; NaN outside the measured range (never extrapolate)."""
    s = np.asarray(soc_known, float)
    v = np.asarray(values, float)
    ok = np.isfinite(s) & np.isfinite(v)
    s, v = s[ok], v[ok]
    t = np.asarray(soc_target, float)
    if s.size < 2:
        return np.full(t.shape, np.nan)
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    # average duplicates of the same SOC so np.interp sees a strictly increasing axis
    uniq, inv = np.unique(s, return_inverse=True)
    vmean = np.bincount(inv, weights=v) / np.bincount(inv)
    out = np.interp(t, uniq, vmean)
    out[(t < uniq[0] - 1e-9) | (t > uniq[-1] + 1e-9)] = np.nan
    return out
