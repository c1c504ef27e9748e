"""The Asylum Research wave note ("Key: value" lines separated by CR) as typed metadata."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def parse_note(text: str) -> dict[str, str]:
    """All key/value pairs of the note, values as text (Asylum writes 'Key: v' and 'Key:v')."""
    out: dict[str, str] = {}
    for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def _number(raw: dict[str, str], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


#: typed key -> (note key, SI unit); only what features or users need, the rest stays in raw_note
TYPED_KEYS: dict[str, tuple[str, str]] = {
    "fast_scan_size_m": ("FastScanSize", "m"),
    "slow_scan_size_m": ("SlowScanSize", "m"),
    "scan_size_m": ("ScanSize", "m"),
    "scan_rate_hz": ("ScanRate", "Hz"),
    "scan_points": ("ScanPoints", "1"),
    "scan_lines": ("ScanLines", "1"),
    "drive_amplitude_v": ("DriveAmplitude", "V"),
    "drive_frequency_hz": ("DriveFrequency", "Hz"),
    "spring_constant_n_per_m": ("SpringConstant", "N/m"),
    "invols_m_per_v": ("InvOLS", "m/V"),
    "amp_invols_m_per_v": ("AmpInvOLS", "m/V"),
    "thermal_q": ("ThermalQ", "1"),
    "contact_q": ("ContactQ", "1"),
    "dart_frequency_center_hz": ("DFRTFrequencyCenter", "Hz"),
    "dart_frequency_width_hz": ("DFRTFrequencyWidth", "Hz"),
    "tip_voltage_v": ("TipVoltage", "V"),
    "surface_voltage_v": ("SurfaceVoltage", "V"),
    "orca_gain_a_per_v": ("OrcaGain", "A/V"),
    "setpoint_v": ("Setpoint", "V"),
}


def typed_metadata(raw: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {k: _number(raw, note_key) for k, (note_key, _) in TYPED_KEYS.items()}
    meta["imaging_mode"] = raw.get("ImagingMode", "")
    meta["dart_on"] = (_number(raw, "DFRTOn") or 0) > 0
    meta["location_note"] = raw.get("ImageNote", "") or raw.get("Note", "")
    meta["acquired_at"] = _acquired_at(raw)
    return meta


def _acquired_at(raw: dict[str, str]) -> str | None:
    date, time = raw.get("Date", ""), raw.get("Time", "")
    for fmt in ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(f"{date} {time}".strip() if "%I" in fmt or "%H" in fmt else date, fmt).isoformat()
        except ValueError:
            continue
    return None
