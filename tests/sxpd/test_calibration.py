"""Beamtime calibration: the real I11 Si standard, and a synthetic standard of known λ and zero."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foundation.parameters import load_params
from foundation.registry import technique
from tasks.sxpd.calibration import calibrate
from tasks.sxpd.synthesis import counts, silicon_profile

SI = "sxpd/i11_si_standard_1410696"
SETTINGS = load_params(technique("sxpd").default_params).values["calibration"]


def _read(real: Path, name: str):
    readers = {r.name: r for r in technique("sxpd").readers}
    reader = readers["i11-nexus"] if name.endswith(".nxs") else readers["i11-xye"]
    d = reader.read(real / SI / name, {}).data
    return d["two_theta_deg"], d["intensity_counts"], d["sigma_counts"]


def _local_max_centroid(x: np.ndarray, y: np.ndarray, near: float, half: float) -> float:
    """Independent position estimate: intensity-weighted centroid of the top half of the peak."""
    w = (x > near - half) & (x < near + half)
    xs, ys = x[w], y[w]
    top = ys > ys.min() + 0.5 * (ys.max() - ys.min())
    return float((xs[top] * ys[top]).sum() / ys[top].sum())


@pytest.mark.parametrize("name", ["1410696_summed_mythen3.xye", "1410696.nxs"])
def test_real_si_standard_rms_and_wavelength(real: Path, name: str) -> None:
    x, y, s = _read(real, name)
    # acceptance: every indexed reflection kept (no outlier rejection), RMS ≤ 0.005° 2θ
    cal = calibrate(x, y, s, {**SETTINGS, "outlier_mad": 1e9})
    assert cal.n_reflections >= 12
    assert cal.rms_residual_deg <= 0.005, cal.rms_residual_deg
    # MANIFEST: the Si peaks of this scan give ~0.8289 Å
    assert abs(cal.wavelength_angstrom - 0.8289) < 5e-4
    assert 0 < cal.wavelength_sigma_angstrom < 1e-4
    assert abs(cal.zero_offset_deg) < 0.05
    # an independent Bragg check: centroid of Si 400 (d = a/4) → λ = 2 d sinθ
    near = np.degrees(2 * np.arcsin(cal.wavelength_angstrom / (2 * 5.431 / 4)))
    pos = _local_max_centroid(x, y, near, 0.02) - cal.zero_offset_deg
    lam = 2 * (5.431 / 4) * np.sin(np.radians(pos) / 2)
    assert abs(lam - cal.wavelength_angstrom) < 1e-4
    # Caglioti widths reproduce the fitted FWHMs of the used reflections within 15 %
    used = cal.peaks["used"]
    model = cal.instrument_fwhm_deg(cal.peaks["position_deg"][used])
    assert np.all(np.abs(model / cal.peaks["fwhm_deg"][used] - 1) < 0.15)


def test_default_rejection_keeps_low_residual(real: Path) -> None:
    x, y, s = _read(real, "1410696_summed_mythen3.xye")
    strict = calibrate(x, y, s, {**SETTINGS, "outlier_mad": 1e9})
    robust = calibrate(x, y, s, SETTINGS)
    assert robust.rms_residual_deg <= strict.rms_residual_deg
    assert robust.n_reflections >= strict.n_reflections - 2


def test_synthetic_standard_recovers_known_wavelength_and_zero() -> None:
    lam, zero = 0.61234, -0.0071
    x = np.round(np.arange(2.0, 60.0, 0.001), 6)
    y, s = counts(silicon_profile(x, wavelength=lam, zero_offset=zero), np.random.default_rng(3))
    cal = calibrate(x, y, s, SETTINGS)
    assert abs(cal.wavelength_angstrom - lam) < 3 * cal.wavelength_sigma_angstrom + 2e-6
    assert abs(cal.zero_offset_deg - zero) < 5e-4
    assert cal.rms_residual_deg < 0.001


def test_a_pattern_without_standard_reflections_is_refused() -> None:
    from foundation.contract import UnreadableFile

    x = np.arange(2.0, 40.0, 0.002)
    rng = np.random.default_rng(0)
    y = rng.poisson(1000.0, x.size).astype(float)
    with pytest.raises(UnreadableFile, match="Si standard"):
        calibrate(x, y, np.sqrt(y), SETTINGS)
