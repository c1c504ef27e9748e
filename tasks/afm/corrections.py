"""Topography corrections: plane, line offsets, scars, and the residual roughness as a quality."""
from __future__ import annotations

import numpy as np


def fit_plane(z: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Least-squares plane through the pixels in ``use`` (all when None), evaluated on the grid.

    Solved from the centred normal equations, accumulated per row and column (no design matrix of
    the whole map); a degenerate selection falls back to the minimum-norm ``lstsq`` solution."""
    ny, nx = z.shape
    x = np.arange(nx, dtype=np.float64)
    y = np.arange(ny, dtype=np.float64)
    sel = np.isfinite(z) if use is None else (use & np.isfinite(z))
    w = sel.astype(np.float64)
    col_n, row_n = w.sum(axis=0), w.sum(axis=1)
    n = float(col_n.sum())
    coef = None
    if n >= 3:
        zs = np.where(sel, z, 0.0)
        mx, my = float(col_n @ x) / n, float(row_n @ y) / n
        xc, yc = x - mx, y - my
        cxx, cyy = float(col_n @ (xc * xc)), float(row_n @ (yc * yc))
        cxy = float(yc @ (w @ xc))
        cxz, cyz = float(zs.sum(axis=0) @ xc), float(zs.sum(axis=1) @ yc)
        mz = float(zs.sum()) / n
        det = cxx * cyy - cxy * cxy
        if det > 1e-9 * max(cxx * cyy, 1e-300):
            b1 = (cxz * cyy - cyz * cxy) / det
            b2 = (cyz * cxx - cxz * cxy) / det
            coef = (mz - b1 * mx - b2 * my, b1, b2)
    if coef is None:
        yy, xx = np.mgrid[0:ny, 0:nx]
        design = np.column_stack([np.ones(sel.sum()), xx[sel], yy[sel]])
        coef, *_ = np.linalg.lstsq(design, z[sel], rcond=None)
    return (coef[0] + coef[1] * x)[None, :] + coef[2] * y[:, None]


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """``np.nanmedian(a, axis=1)`` by one row-wise sort (NaNs sort last); NaN for all-NaN rows."""
    s = np.sort(a, axis=1)
    k = a.shape[1] - np.isnan(a).sum(axis=1)
    rows = np.arange(a.shape[0])
    lo = s[rows, np.maximum(k - 1, 0) // 2]
    hi = s[rows, k // 2]
    with np.errstate(invalid="ignore"):
        med = (lo + hi) / 2.0
    return np.where(k > 0, med, np.nan)


def align_lines(z: np.ndarray, use: np.ndarray | None = None, min_pixels: int = 8) -> np.ndarray:
    """Subtract each scan line's median over ``use`` pixels (the whole line when too few)."""
    if use is None:
        offsets = _row_nanmedian(z)
    else:
        enough = np.sum(use, axis=1) >= min_pixels
        offsets = np.empty(z.shape[0], dtype=np.result_type(z.dtype, np.float64))
        if enough.any():
            offsets[enough] = _row_nanmedian(np.where(use[enough], z[enough], np.nan))
        if not enough.all():
            offsets[~enough] = _row_nanmedian(z[~enough])
    return z - offsets[:, None]


def remove_scars(z: np.ndarray, threshold_sigma: float | None) -> tuple[np.ndarray, int]:
    """Replace pixels that stand out from both neighbouring lines in the same direction."""
    if threshold_sigma is None or z.shape[0] < 3:
        return z, 0
    diffs = np.diff(z, axis=0)
    up = diffs[:-1]  # z[1:-1] - z[:-2]
    down = -diffs[1:]  # z[1:-1] - z[2:]
    sigma = 1.4826 * np.nanmedian(np.abs(diffs - np.nanmedian(diffs)), overwrite_input=True)
    if not np.isfinite(sigma) or sigma == 0:
        return z, 0
    thr = threshold_sigma * sigma
    if thr >= 0:  # |up| > thr, |down| > thr and the same sign
        scar = ((up > thr) & (down > thr)) | ((up < -thr) & (down < -thr))
    else:
        scar = (np.abs(up) > thr) & (np.abs(down) > thr) & (np.sign(up) == np.sign(down))
    out = z.copy()
    inner = out[1:-1]
    inner[scar] = 0.5 * (z[:-2][scar] + z[2:][scar])
    return out, int(scar.sum())


def flatten_height(z: np.ndarray, particle_mask: np.ndarray | None, scar_threshold_sigma: float | None
                   ) -> tuple[np.ndarray, dict[str, float]]:
    """Plane, scars, line offsets; returns the flattened height and quality numbers (same unit as z)."""
    use = None if particle_mask is None else ~particle_mask
    plane = fit_plane(z, use)
    tilt = float(np.nanmax(plane) - np.nanmin(plane))
    flat, n_scars = remove_scars(z - plane, scar_threshold_sigma)
    flat = align_lines(flat, use)
    if particle_mask is not None and (~particle_mask).sum() > 16:
        matrix = flat[~particle_mask]
        offset = np.nanmedian(matrix)
        flat = flat - offset
        roughness = float(np.nanstd(matrix - offset))
    else:
        flat = flat - np.nanmedian(flat)
        roughness = float(np.nanstd(flat))
    return flat, {"tilt": tilt, "n_scar_px": n_scars, "roughness_rms": roughness}
