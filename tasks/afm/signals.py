"""From a read map (SI channels with roles) to the canonical physical signals features use."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, MissingInformation
from tasks.afm.dart import dart_drive_amplitude


@dataclass
class MapSignals:
    """Canonical channels on one grid, in table units (nm, pm/V, deg, kHz, pA, V); None = not recorded or not
    computable (``info["flags"]`` says why)."""

    height_m: np.ndarray | None
    esm_amp_pm_per_v: np.ndarray | None = None
    phase_deg: np.ndarray | None = None
    crf_khz: np.ndarray | None = None
    current_pa: np.ndarray | None = None
    potential_v: np.ndarray | None = None   # KPFM surface potential
    friction: np.ndarray | None = None
    amplitude_m: np.ndarray | None = None   # ESM amplitude before drive/Q (segments an ESM map without pm/V)
    info: dict[str, Any] = field(default_factory=dict)


def pick(m: Measurement, role: str, direction: str) -> np.ndarray | None:
    """The channel with this role, preferring the given scan direction."""
    roles, directions = m.meta.get("roles", {}), m.meta.get("directions", {})
    names = [c for c, r in roles.items() if r == role]
    if not names:
        return None
    names.sort(key=lambda c: directions.get(c, "") != direction)
    return np.asarray(m.data[names[0]], dtype=np.float64)


def _esm_basis(m: Measurement, q: float | None, info: dict[str, Any], flags: list[str]) -> float | None:
    """Drive x Q that turns an amplitude in m into pm/V, or None (with a flag) when either is missing.

    ESM in pm/V needs the drive amplitude (Asylum DriveAmplitude, lock-in sidecar) and a Q (DART,
    ContactQ / sidecar contact_q, or the parameter ``esm.contact_q``, which is a default: flagged).
    """
    drive = m.meta.get("drive_amplitude_v")
    info["drive_amplitude_v"] = float(drive) if drive else None
    if not drive:
        flags.append("esm_not_computed_no_drive_amplitude")
    if q is None:
        flags.append("esm_not_computed_no_q_source")
    return float(drive) * q if drive and q is not None else None


def _dart(m: Measurement, s: MapSignals, direction: str, esm_p: Mapping[str, Any], flags: list[str]) -> None:
    a1, a2 = pick(m, "amplitude1", direction), pick(m, "amplitude2", direction)
    p1, p2 = pick(m, "phase1", direction), pick(m, "phase2", direction)
    fc = pick(m, "frequency", direction)
    width = m.meta.get("dart_frequency_width_hz")
    if not width and esm_p.get("dart_sideband_width_hz"):
        width = esm_p["dart_sideband_width_hz"]
        flags.append("dart_sideband_width_from_config")
    if a1 is None or a2 is None or p1 is None or p2 is None or fc is None or not width:
        raise MissingInformation("DART map lacks Amplitude1/2, Phase1/Phase2/Frequency channels or the sideband "
                                 "width (DFRTFrequencyWidth, or esm.dart_sideband_width_hz): f0 and Q cannot be "
                                 "recovered")
    f1, f2 = fc - width / 2.0, fc + width / 2.0
    f0, q, a = dart_drive_amplitude(a1, p1, a2, p2, f1, f2, int(esm_p["dart_smooth_px"]))
    s.amplitude_m = a  # already divided by Q (the DART closed form)
    basis = _esm_basis(m, 1.0, s.info, flags)
    s.esm_amp_pm_per_v = None if basis is None else a / basis * 1e12
    s.crf_khz = f0 / 1e3
    s.phase_deg = 0.5 * (p1 + p2)
    s.info.update(q_source="dart", q_mean=float(np.nanmean(q)))


def _single_frequency(m: Measurement, s: MapSignals, direction: str, esm_p: Mapping[str, Any],
                      flags: list[str]) -> None:
    amp = pick(m, "amplitude", direction)
    q, source = m.meta.get("contact_q"), "metadata"
    if not q and esm_p.get("contact_q"):
        q, source = esm_p["contact_q"], "config"
        flags.append("esm_q_from_config_default")
    q = float(q) if q else None
    s.amplitude_m = amp
    basis = _esm_basis(m, q, s.info, flags)
    s.esm_amp_pm_per_v = None if basis is None else amp / basis * 1e12
    s.phase_deg = pick(m, "phase", direction)
    freq = pick(m, "frequency", direction)
    s.crf_khz = None if freq is None else freq / 1e3
    s.info.update(q_source=source if q else None, q_mean=q)


def extract_signals(m: Measurement, params: Mapping[str, Any]) -> MapSignals:
    """The channels the map's mode supports, with the flags of what could not be computed or used a default."""
    direction = params["channels"]["preferred_direction"]
    esm_p = params["esm"]
    s = MapSignals(height_m=pick(m, "height", direction))
    flags: list[str] = s.info.setdefault("flags", [])
    s.info.update(q_source=None, q_mean=None, drive_amplitude_v=None)
    if m.mode == "ESM" and pick(m, "amplitude1", direction) is not None:
        _dart(m, s, direction, esm_p, flags)
    elif m.mode == "ESM":
        _single_frequency(m, s, direction, esm_p, flags)
    elif m.mode == "CAFM":
        current = pick(m, "current", direction)
        s.current_pa = current * 1e12
        s.friction = pick(m, "friction", direction)
    elif m.mode == "CR":
        freq = pick(m, "frequency", direction)
        s.crf_khz = freq / 1e3
    elif m.mode == "KPFM":
        s.potential_v = pick(m, "potential", direction)
        if s.potential_v is None:
            flags.append("kpfm_no_potential_channel")
    elif m.mode not in ("TOPO", "AC"):
        present = sorted(set(m.meta.get("roles", {}).values()))
        raise MissingInformation(
            f"map has channels of kind {present} and no AFM imaging mode "
            f"({m.meta.get('mode_evidence') or 'no evidence'}): it is kept in the raw store but not processed")
    if s.height_m is None:
        raise MissingInformation("map has no height channel: it cannot be flattened or co-registered")
    return s
