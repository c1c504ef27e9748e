"""Synthetic I11 patterns of the demo world: NCM622 + Al current collector + Li counter electrode.

Kinematic intensities (crystallography.py), split pseudo-Voigt profiles whose widths combine the
Caglioti instrument width with Williamson–Hall size and anisotropic strain broadening, a low-angle
asymmetry that decays with 2θ, a 2θ zero offset, a smooth background with an amorphous hump, and
Poisson counting noise. The exact inputs are the ground truth the analysis is scored against.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.sxpd.crystallography import (AL_A_ANGSTROM, LI_A_ANGSTROM, cubic_reflections, lorentz_polarisation,
                                        ncm_reflections, silicon_reflections, two_theta_deg)
from tasks.sxpd.profiles import split_pseudo_voigt

DEMO_WAVELENGTH_ANGSTROM = 0.489951
DEMO_ZERO_OFFSET_DEG = 0.0042
DEMO_CAGLIOTI_DEG2 = (4.0e-4, -1.0e-4, 4.0e-5)
#: Al foil and Li metal are textured: per-reflection multipliers on their powder intensities
AL_TEXTURE = {"111": 1.6, "200": 0.5, "220": 1.2, "311": 0.8}
LI_TEXTURE = {"110": 1.0, "200": 0.6, "211": 1.4}


@dataclass(frozen=True)
class Sample:
    a_angstrom: float
    c_angstrom: float
    microstrain_c_pct: float
    microstrain_a_pct: float = 0.04
    size_nm: float = 150.0


def asymmetry(two_theta: np.ndarray) -> np.ndarray:
    """Axial-divergence-like asymmetry α, strong at low angle and fading as (5°/2θ)²."""
    return np.clip(0.35 * (5.0 / np.asarray(two_theta)) ** 2, 0.0, 0.5)


def caglioti(two_theta: np.ndarray, uvw=DEMO_CAGLIOTI_DEG2) -> np.ndarray:
    t = np.tan(np.radians(two_theta) / 2.0)
    return np.sqrt(uvw[0] * t * t + uvw[1] * t + uvw[2])


def _add_peaks(x: np.ndarray, out: np.ndarray, pos: np.ndarray, fwhm: np.ndarray, area: np.ndarray,
               eta: float, alpha: np.ndarray, reach_fwhm: float = 60.0) -> None:
    """Add each peak on its own window (loop over reflections, never over points)."""
    step = x[1] - x[0]
    for p, h, a, al in zip(pos, fwhm, area, alpha):
        i0 = max(int((p - reach_fwhm * h - x[0]) / step), 0)
        i1 = min(int((p + reach_fwhm * h - x[0]) / step) + 1, len(x))
        if i1 <= i0:
            continue
        out[i0:i1] += split_pseudo_voigt(x[None, i0:i1], np.array([[p]]), np.array([[h]]), np.array([[a]]),
                                         np.array([eta]), np.array([al]))[0, :, 0]


#: the peak adder, for the other demo generators (olivine_demo.py)
add_peaks = _add_peaks


def ncm_profile(x: np.ndarray, sample: Sample, wavelength: float = DEMO_WAVELENGTH_ANGSTROM,
                zero_offset: float = DEMO_ZERO_OFFSET_DEG, scale: float = 1.0) -> np.ndarray:
    """Expected counts of the NCM, Al and Li reflections plus background (no noise)."""
    d_min = wavelength / (2.0 * np.sin(np.radians(min(x[-1] + 1.0, 170.0)) / 2.0))
    y = 900.0 + 2500.0 * np.exp(-x / 6.0) + 700.0 * np.exp(-(((x - 9.0) / 3.5) ** 2))
    ncm = ncm_reflections(sample.a_angstrom, sample.c_angstrom, d_min)
    tt = two_theta_deg(ncm.d_angstrom, wavelength)
    ok = np.isfinite(tt)
    tt, d = tt[ok], ncm.d_angstrom[ok]
    th = np.radians(tt) / 2.0
    cos2phi = (ncm.l[ok] * d / sample.c_angstrom) ** 2  # angle between the plane normal and c*
    strain = np.sqrt((sample.microstrain_c_pct / 100) ** 2 * cos2phi + (sample.microstrain_a_pct / 100) ** 2 * (1 - cos2phi))
    sample_fwhm = np.degrees(0.9 * wavelength / (sample.size_nm * 10.0) / np.cos(th) + 4.0 * strain * np.tan(th))
    fwhm = np.sqrt(caglioti(tt) ** 2 + sample_fwhm**2)
    # thermal damping (B = 0.5 Å²) keeps the high-angle forest weak, as in real patterns
    area = ncm.intensity[ok] * lorentz_polarisation(tt) * np.exp(-2 * 0.5 * (1 / (2 * d)) ** 2)
    area = area / area.max() * 3000.0 * scale
    _add_peaks(x, y, tt + zero_offset, fwhm, area, 0.4, asymmetry(tt))
    for phase, element, a, lattice, texture, strength in (("Al", "Al", AL_A_ANGSTROM, "fcc", AL_TEXTURE, 500.0),
                                                          ("Li", "Li", LI_A_ANGSTROM, "bcc", LI_TEXTURE, 120.0)):
        refl = cubic_reflections(phase, element, a, lattice, d_min)
        ptt = two_theta_deg(refl.d_angstrom, wavelength)
        okp = np.isfinite(ptt)
        tex = np.array([texture.get(lab, 0.7) for lab in np.array(refl.labels)[okp]])
        parea = refl.intensity[okp] * lorentz_polarisation(ptt[okp]) * tex
        parea = parea / parea.max() * strength * scale
        pfwhm = np.sqrt(caglioti(ptt[okp]) ** 2 + (0.004 + 0.01 * np.tan(np.radians(ptt[okp]) / 2)) ** 2)
        _add_peaks(x, y, ptt[okp] + zero_offset, pfwhm, parea, 0.2, asymmetry(ptt[okp]))
    return y


def silicon_profile(x: np.ndarray, wavelength: float = DEMO_WAVELENGTH_ANGSTROM,
                    zero_offset: float = DEMO_ZERO_OFFSET_DEG) -> np.ndarray:
    d_min = wavelength / (2.0 * np.sin(np.radians(min(x[-1] + 1.0, 170.0)) / 2.0))
    si = silicon_reflections(d_min)
    tt = two_theta_deg(si.d_angstrom, wavelength)
    ok = np.isfinite(tt)
    tt = tt[ok]
    area = si.intensity[ok] * lorentz_polarisation(tt) * np.exp(-2 * 0.45 * (1 / (2 * si.d_angstrom[ok])) ** 2)
    area = area / area.max() * 400.0
    y = 300.0 + 800.0 * np.exp(-x / 5.0)
    _add_peaks(x, y, tt + zero_offset, caglioti(tt), area, 0.3, asymmetry(tt))
    return y


def counts(expected: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts and their σ (√N, at least 1)."""
    n = rng.poisson(expected).astype(np.float64)
    return n, np.sqrt(np.maximum(n, 1.0))
