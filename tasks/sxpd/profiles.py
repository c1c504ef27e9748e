"""Split pseudo-Voigt profile and its analytic derivatives, evaluated on many windows at once.

A peak is (x0, H, A): mode position, full width at half maximum and area; the window (group)
shares the Lorentz fraction η and the asymmetry α. The left half-width is H/2·(1 + α), the right
H/2·(1 − α): α > 0 gives the low-angle tail that axial divergence produces at small 2θ, while x0
stays the mode, i.e. the Bragg position. α = 0 is the ordinary pseudo-Voigt.
"""
from __future__ import annotations

import numpy as np

LN2 = np.log(2.0)
#: area of a unit-height Gaussian of FWHM 1 is sqrt(pi/ln2)/2; of a Lorentzian pi/2
_G_AREA = np.sqrt(np.pi / LN2)


def split_pseudo_voigt(x: np.ndarray, x0: np.ndarray, fwhm: np.ndarray, area: np.ndarray,
                       eta: np.ndarray, alpha: np.ndarray, with_jacobian: bool = False):
    """Profiles of peaks ``[..., K]`` on points ``x[..., N]``: returns y ``[..., N, K]``.

    With ``with_jacobian`` also returns the derivatives d y / d(x0, fwhm, area, eta, alpha),
    each ``[..., N, K]``. Broadcasting: x is ``[G, N, 1]``-compatible, peak arrays ``[G, 1, K]``.
    """
    x0, fwhm, area = x0[..., None, :], fwhm[..., None, :], area[..., None, :]
    eta, alpha = eta[..., None, None], alpha[..., None, None]
    dx = x[..., :, None] - x0
    side = np.where(dx < 0, 1.0, -1.0)  # +1 on the low-angle side
    half = 0.5 * fwhm
    w = half * (1.0 + side * alpha)
    u = dx / w
    u2 = u * u
    lor = 1.0 / (1.0 + u2)
    gau = np.exp(-LN2 * u2)
    shape = eta * lor + (1.0 - eta) * gau
    norm = half * (eta * np.pi + (1.0 - eta) * _G_AREA)
    height = area / norm
    y = height * shape
    if not with_jacobian:
        return y
    dshape_du = -2.0 * u * (eta * lor * lor + (1.0 - eta) * LN2 * gau)
    h_ds = height * dshape_du
    d_x0 = -h_ds / w
    d_fwhm = -(height / fwhm) * (shape + u * dshape_du)
    d_area = shape / norm
    d_eta = height * ((lor - gau) - shape * (half * (np.pi - _G_AREA)) / norm)
    d_alpha = -h_ds * u * side / (1.0 + side * alpha)
    return y, (d_x0, d_fwhm, d_area, d_eta, d_alpha)


def split_pseudo_voigt_flat(x: np.ndarray, x0: np.ndarray, fwhm: np.ndarray, area: np.ndarray,
                            eta: np.ndarray, alpha: np.ndarray, need_alpha: bool = True):
    """One row per peak: x ``[F, N]`` (the points of the peak's window), peak values ``[F]``.

    Returns the profile and d/d(x0, fwhm, area, η, α), each ``[F, N]`` — the model and derivatives
    of ``split_pseudo_voigt`` without padding peaks (windows hold different numbers of peaks). With
    ``need_alpha`` False the α derivative is None.
    """
    x0, fwhm, area, eta, alpha = x0[:, None], fwhm[:, None], area[:, None], eta[:, None], alpha[:, None]
    half = 0.5 * fwhm
    dx = x - x0
    left = dx < 0
    inv_w = np.where(left, 1.0 / (half * (1.0 + alpha)), 1.0 / (half * (1.0 - alpha)))
    u = dx * inv_w
    u2 = u * u
    lor = 1.0 / (1.0 + u2)
    gau = np.exp(-LN2 * u2)
    diff = lor - gau
    shape = eta * diff
    shape += gau
    norm = half * (eta * np.pi + (1.0 - eta) * _G_AREA)  # [F, 1]
    height = area / norm
    y = height * shape
    # dshape/du = -2u·(η·lor² + (1-η)·ln2·gau)
    inner = lor * lor
    inner *= eta
    inner += ((1.0 - eta) * LN2) * gau
    dshape_du = u * inner
    dshape_du *= -2.0
    h_ds = height * dshape_du
    d_x0 = h_ds * inv_w
    np.negative(d_x0, out=d_x0)
    d_fwhm = u * dshape_du
    d_fwhm += shape
    d_fwhm *= -(height / fwhm)
    d_area = shape * (1.0 / norm)
    d_eta = height * diff
    d_eta -= y * ((half * (np.pi - _G_AREA)) / norm)
    d_alpha = None
    if need_alpha:
        # dw/dα = ±H/2 on the low-/high-angle side, so dy/dα = -h_ds·u·(±H/2)/w = -d_x0·(H/2)·|u|
        d_alpha = np.abs(u)
        d_alpha *= -half
        d_alpha *= d_x0
    return y, d_x0, d_fwhm, d_area, d_eta, d_alpha
