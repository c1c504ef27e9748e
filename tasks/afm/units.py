"""Unit strings as SPM files write them ('mV', '~m', 'º', 'pA') -> (SI unit, factor to it)."""
from __future__ import annotations

#: base units SPM files write -> SI name ('º' and '°' are degrees of phase)
_BASE_UNITS = {"m": "m", "V": "V", "A": "A", "N": "N", "Pa": "Pa", "Hz": "Hz", "s": "s", "Arb": "Arb",
               "º": "deg", "°": "deg", "deg": "deg"}
#: '~' is Nanoscope's µ; both micro signs (U+00B5, U+03BC) occur
_PREFIXES = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "~": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3,
             "k": 1e3, "M": 1e6, "G": 1e9}


def to_si(unit: str) -> tuple[str, float] | None:
    """'mV' -> ('V', 1e-3), '~m' -> ('m', 1e-6), 'º' -> ('deg', 1.0); None for a unit not known here."""
    unit = unit.strip()
    if unit == "Å":
        return "m", 1e-10
    if unit in _BASE_UNITS:  # before prefixes: 'm' is the metre, not milli
        return _BASE_UNITS[unit], 1.0
    if len(unit) > 1 and unit[0] in _PREFIXES and unit[1:] in _BASE_UNITS:
        return _BASE_UNITS[unit[1:]], _PREFIXES[unit[0]]
    return None
