"""The canonical powder pattern every SXPD reader returns, and the checks all of them share."""
from __future__ import annotations

from typing import Any

import numpy as np

from foundation.contract import Measurement, UnreadableFile

KIND = "xrd_pattern"
UNITS = {"two_theta_deg": "deg", "intensity_counts": "counts", "sigma_counts": "counts"}
#: Planck constant × c in keV·Å, for wavelengths stored as photon energies
HC_KEV_ANGSTROM = 12.398419843320026


def pattern_measurement(two_theta: np.ndarray, intensity: np.ndarray, sigma: np.ndarray | None,
                        meta: dict[str, Any], source: str, part: str = "") -> Measurement:
    """Check a pattern and wrap it; ``source`` names the file in error messages."""
    two_theta = np.asarray(two_theta, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    if two_theta.ndim != 1 or intensity.shape != two_theta.shape:
        raise UnreadableFile(f"{source}: 2θ has shape {two_theta.shape} but intensity {intensity.shape}; "
                             f"a pattern needs one intensity per 2θ point")
    if two_theta.size < 10:
        raise UnreadableFile(f"{source}: only {two_theta.size} data points; the file is empty or truncated")
    # strictly increasing with finite ends means every value is finite: one comparison pass over
    # the pattern, and the diagnosis only when it fails
    increasing = two_theta[1:] > two_theta[:-1]
    if not (increasing.all() and np.isfinite(two_theta[[0, -1]]).all()):
        finite = np.isfinite(two_theta)
        if not finite.all():
            raise UnreadableFile(f"{source}: {int((~finite).sum())} 2θ values are not numbers; the file is damaged")
        bad = int(np.argmin(increasing)) + 1
        raise UnreadableFile(f"{source}: 2θ is not strictly increasing (row {bad}: {two_theta[bad - 1]:.5f} → "
                             f"{two_theta[bad]:.5f} deg); the file is damaged or two scans were concatenated")
    meta = dict(meta)
    if sigma is None:
        # counting statistics are the best we can say when the file carries no errors
        sigma = np.sqrt(np.clip(intensity, 1.0, None))
        meta["sigma_estimated"] = True
    else:
        sigma = np.asarray(sigma, dtype=np.float64)
        meta.setdefault("sigma_estimated", False)
    meta.update(n_points=int(two_theta.size), two_theta_min_deg=float(two_theta[0]),
                two_theta_max_deg=float(two_theta[-1]))
    data = {"two_theta_deg": two_theta, "intensity_counts": intensity, "sigma_counts": sigma}
    return Measurement(technique="sxpd", kind=KIND, data=data, units=dict(UNITS), meta=meta, part=part)
