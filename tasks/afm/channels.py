"""What an AFM channel is, from its vendor name: its role and its SI unit.

Vendor files rarely carry a usable unit per channel (an Asylum wave has one unit for all its
layers), so the unit follows the documented name-based map below. Readers convert every channel
to the SI unit of its role at the boundary; features only ever see SI values.
"""
from __future__ import annotations

import re

#: role -> SI unit of the canonical channel
ROLE_UNITS: dict[str, str] = {
    "height": "m",
    "amplitude": "m",        # single-frequency PFM/ESM amplitude (already through AmpInvOLS)
    "amplitude1": "m",       # DART lower sideband
    "amplitude2": "m",       # DART upper sideband
    "phase": "deg",
    "phase1": "deg",
    "phase2": "deg",
    "frequency": "Hz",       # DART tracked resonance / lock-in PLL contact-resonance frequency
    "current": "A",          # ORCA / TUNA / C-AFM current
    "deflection": "m",
    "friction": "V",
    "user_in": "V",          # external inputs the instrument does not interpret
    "potential": "V",
    "other": "1",
}

# Order matters: the first pattern that matches the label (retrace/trace suffix removed) wins.
_ASYLUM_ROLES: list[tuple[str, str]] = [
    (r"^height|^zsensor|^z sensor", "height"),
    (r"^amplitude1$|^amp1$", "amplitude1"),
    (r"^amplitude2$|^amp2$", "amplitude2"),
    (r"^amplitude$|^amp$", "amplitude"),
    (r"^phase1$", "phase1"),
    (r"^phase2$", "phase2"),
    (r"^phase$", "phase"),
    (r"^frequency$|^freq$|^contactfrequency$", "frequency"),
    (r"^current\d?$|^orca", "current"),
    (r"^deflection|^defl", "deflection"),
    (r"^lateral|^friction", "friction"),
    (r"^userin\d|^input", "user_in"),
    (r"^potential|^surfacepotential|^nap", "potential"),
]

_DIRECTION = re.compile(r"(retrace|trace)$", re.IGNORECASE)


def split_direction(label: str) -> tuple[str, str]:
    """'PhaseRetrace' -> ('Phase', 'retrace'); labels without a direction give ''."""
    m = _DIRECTION.search(label)
    if not m:
        return label, ""
    return label[: m.start()], m.group(1).lower()


def asylum_role(label: str) -> str:
    base, _ = split_direction(label)
    key = base.strip().lower()
    for pattern, role in _ASYLUM_ROLES:
        if re.search(pattern, key):
            return role
    return "other"
