"""From a read map (SI channels with roles) to the canonical physical signals features use."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, MissingInformation
from tasks.afm.dart import dart_drive_amplitude


@dataclass
class MapSignals:
    """Canonical channels on one grid, in table units (nm, pm/V, deg, kHz, pA); None = not recorded."""

    height_m: np.ndarray | None
    esm_amp_pm_per_v: np.ndarray | None = None
    phase_deg: np.ndarray | None = None
    crf_khz: np.ndarray | None = None
    current_pa: np.ndarray | None = None
    friction: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def pick(m: Measurement, role: str, direction: str) -> np.ndarray | None:
    """The channel with this role, preferring the given scan direction."""
    roles, directions = m.meta.get("roles", {}), m.meta.get("directions", {})
    names = [c for c, r in roles.items() if r == role]
    if not names:
        return None
    names.sort(key=lambda c: directions.get(c, "") != direction)
    return np.asarray(m.data[names[0]], dtype=np.float64)


def _drive(m: Measurement) -> float:
    v = m.meta.get("drive_amplitude_v")
    if not v:
        raise MissingInformation("ESM map has no drive amplitude (DriveAmplitude in the Asylum note or "
                                 "drive_amplitude_v in the lock-in sidecar): the amplitude cannot be given in pm/V")
    return float(v)


def extract_signals(m: Measurement, params: Mapping[str, Any]) -> MapSignals:
    direction = params["channels"]["preferred_direction"]
    esm_p = params["esm"]
    s = MapSignals(height_m=pick(m, "height", direction))
    info = s.info
    a1, a2 = pick(m, "amplitude1", direction), pick(m, "amplitude2", direction)
    if m.mode == "ESM" and a1 is not None and a2 is not None:
        p1, p2 = pick(m, "phase1", direction), pick(m, "phase2", direction)
        fc = pick(m, "frequency", direction)
        width = m.meta.get("dart_frequency_width_hz") or esm_p.get("dart_sideband_width_hz")
        if p1 is None or p2 is None or fc is None or not width:
            raise MissingInformation("DART map lacks Phase1/Phase2/Frequency channels or the sideband width "
                                     "(DFRTFrequencyWidth): f0 and Q cannot be recovered")
        f1, f2 = fc - width / 2.0, fc + width / 2.0
        f0, q, a = dart_drive_amplitude(a1, p1, a2, p2, f1, f2, int(esm_p["dart_smooth_px"]))
        drive = _drive(m)
        s.esm_amp_pm_per_v = a / drive * 1e12
        s.crf_khz = f0 / 1e3
        s.phase_deg = 0.5 * (p1 + p2)
        info.update(q_source="dart", q_mean=float(np.nanmean(q)), drive_amplitude_v=drive)
    elif m.mode == "ESM":
        amp = pick(m, "amplitude", direction)
        drive = _drive(m)
        q, source = m.meta.get("contact_q"), "metadata"
        if not q and esm_p.get("contact_q"):
            q, source = esm_p["contact_q"], "config"
        if not q:
            q, source = 1.0, "none"
        s.esm_amp_pm_per_v = amp / (float(q) * drive) * 1e12
        s.phase_deg = pick(m, "phase", direction)
        freq = pick(m, "frequency", direction)
        s.crf_khz = None if freq is None else freq / 1e3
        info.update(q_source=source, q_mean=float(q) if source != "none" else None, drive_amplitude_v=drive)
    elif m.mode == "CAFM":
        current = pick(m, "current", direction)
        s.current_pa = current * 1e12
        s.friction = pick(m, "friction", direction)
        info.update(q_source=None, q_mean=None, drive_amplitude_v=None)
    else:
        present = sorted(set(m.meta.get("roles", {}).values()))
        raise MissingInformation(
            f"map has channels of kind {present} but neither an ESM amplitude (Amplitude, DART Amplitude1/2, "
            "lock-in amplitude input) nor a current: not an ESM or C-AFM map (topography only?); "
            "it is kept in the raw store but not processed")
    if s.height_m is None:
        raise MissingInformation("map has no height channel: it cannot be flattened or co-registered")
    return s
