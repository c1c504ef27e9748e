"""Topography corrections: plane, line offsets, scars, and the residual roughness as a quality."""
from __future__ import annotations

import numpy as np


def fit_plane(z: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
    """Least-squares plane through the pixels in ``use`` (all when None), evaluated on the grid."""
    ny, nx = z.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    sel = np.isfinite(z) if use is None else (use & np.isfinite(z))
    design = np.column_stack([np.ones(sel.sum()), xx[sel], yy[sel]])
    coef, *_ = np.linalg.lstsq(design, z[sel], rcond=None)
    return coef[0] + coef[1] * xx + coef[2] * yy


def align_lines(z: np.ndarray, use: np.ndarray | None = None, min_pixels: int = 8) -> np.ndarray:
    """Subtract each scan line's median over ``use`` pixels (the whole line when too few)."""
    if use is None:
        offsets = np.nanmedian(z, axis=1)
    else:
        masked = np.where(use, z, np.nan)
        enough = np.sum(use, axis=1) >= min_pixels
        offsets = np.where(enough, np.nanmedian(np.where(enough[:, None], masked, 0.0), axis=1),
                           np.nanmedian(z, axis=1))
    return z - offsets[:, None]


def remove_scars(z: np.ndarray, threshold_sigma: float | None) -> tuple[np.ndarray, int]:
    """Replace pixels that stand out from both neighbouring lines in the same direction."""
    if threshold_sigma is None or z.shape[0] < 3:
        return z, 0
    up = z[1:-1] - z[:-2]
    down = z[1:-1] - z[2:]
    diffs = np.diff(z, axis=0)
    sigma = 1.4826 * np.nanmedian(np.abs(diffs - np.nanmedian(diffs)))
    if not np.isfinite(sigma) or sigma == 0:
        return z, 0
    scar = (np.abs(up) > threshold_sigma * sigma) & (np.abs(down) > threshold_sigma * sigma) & (np.sign(up) == np.sign(down))
    out = z.copy()
    inner = out[1:-1]
    inner[scar] = 0.5 * (z[:-2] + z[2:])[scar]
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
        flat = flat - np.nanmedian(flat[~particle_mask])
        roughness = float(np.nanstd(flat[~particle_mask]))
    else:
        flat = flat - np.nanmedian(flat)
        roughness = float(np.nanstd(flat))
    return flat, {"tilt": tilt, "n_scar_px": n_scars, "roughness_rms": roughness}
