"""Co-registration of two maps of the same area by their flattened topographies (sub-pixel)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation


def _prepare(z: np.ndarray) -> np.ndarray:
    z = np.where(np.isfinite(z), z, np.nanmedian(z))
    z = z - z.mean()
    # a Hann window keeps the image border from dominating the cross-power spectrum
    window = np.outer(np.hanning(z.shape[0]), np.hanning(z.shape[1]))
    return z * window


def register_shift(reference: np.ndarray, moving: np.ndarray, upsample_factor: int = 50) -> tuple[float, float]:
    """(dy, dx) in pixels such that ``shift_image(moving, (dy, dx))`` lies on ``reference``."""
    shift, _, _ = phase_cross_correlation(_prepare(reference), _prepare(moving), upsample_factor=upsample_factor,
                                          normalization=None)
    return float(shift[0]), float(shift[1])


def shift_image(image: np.ndarray, shift: tuple[float, float], order: int = 1) -> np.ndarray:
    """Resample onto the reference grid; pixels with no source become NaN."""
    out = ndimage.shift(np.asarray(image, dtype=np.float64), shift, order=order, mode="constant", cval=np.nan)
    return out


def match_grid(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a map of the same scan area onto another pixel count."""
    if image.shape == shape:
        return image
    return ndimage.zoom(image, (shape[0] / image.shape[0], shape[1] / image.shape[1]), order=1)


def overlap_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 16:
        return float("nan"), ok
    return float(np.corrcoef(a[ok], b[ok])[0, 1]), ok
