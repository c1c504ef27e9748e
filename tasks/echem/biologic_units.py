"""BioLogic column names, their units, wall-clock zone and the vendor charge check (shared by the
text and the .mpr reader).

A BioLogic column name is ``<quantity>/<unit>``: ``Ewe/V``, ``I/mA``, ``(Q-Qo)/mA.h``, ``time/s``; an
averaged quantity is written ``<Ewe>/V`` (current versions) or ``<Ewe/V>`` (old ones). The unit decides
the conversion to SI through the tables below; a unit outside them is refused, never guessed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from foundation.contract import UnreadableFile

#: divisor from the vendor unit to the canonical one (V, A, Ah, s), per dimension
UNIT_DIVISORS: dict[str, dict[str, float]] = {
    "potential": {"V": 1.0, "mV": 1e3, "µV": 1e6},
    "current": {"A": 1.0, "mA": 1e3, "µA": 1e6, "nA": 1e9, "pA": 1e12},
    "charge": {"A.h": 1.0, "mA.h": 1e3, "µA.h": 1e6, "nA.h": 1e9,
               "C": 3600.0, "mC": 3.6e6, "µC": 3.6e9},  # 1 Ah = 3600 C
    "time": {"s": 1.0, "ms": 1e3, "min": 1 / 60, "h": 1 / 3600, "d": 1 / 86400},
}

#: canonical role -> (dimension, BioLogic quantities in order of preference)
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "time": ("time", ("time",)),
    # the working electrode against the reference (or the cell); Ewe-Ece is the cell of a 3-electrode set-up
    "voltage": ("potential", ("Ewe", "Ecell", "<Ewe>", "<Ecell>", "Ewe-Ece", "<Ewe-Ece>")),
    # the measured current; control/mA is the set point and never stands in for it
    "current": ("current", ("I", "<I>")),
    "dq": ("charge", ("dq", "dQ")),  # charge passed since the previous record
    "vendor_charge": ("charge", ("(Q-Qo)", "Q-Qo")),  # net charge since the start of the run
}

#: spellings of the micro sign: latin-1 µ, Greek mu, and UTF-8 µ read as latin-1
_MICRO = (("Âµ", "µ"), ("μ", "µ"))

#: charge_ah integrated from current may differ from the vendor's (Q-Qo) by this fraction of the
#: vendor's charge swing before the series is flagged (sampling between records, trapezoid vs the
#: instrument's own integration: 0.6 % on the sparsest real file, 11 records)
CHARGE_TOLERANCE = 0.01

SIGN_CONVENTION = ("charge positive: BioLogic's I > 0 (oxidation at the working electrode) and rising "
                   "(Q-Qo) are charge; both kept with the instrument's sign")


def split_name(column: str) -> tuple[str, str] | None:
    """'Ewe/V' -> ('Ewe', 'V'); '<Ewe>/V' and '<Ewe/V>' -> ('<Ewe>', 'V'); '(Q-Qo)/mA.h' -> ('(Q-Qo)',
    'mA.h'); 'mA·h' (yadg's spelling) -> 'mA.h'; a name without a unit ('Ns', 'cycle number') -> None."""
    name = column.strip()
    for wrong, right in _MICRO:
        name = name.replace(wrong, right)
    name = name.replace("·", ".")
    if name.startswith("<") and name.endswith(">") and "/" in name and ">" not in name[:-1]:
        quantity, _, unit = name[1:-1].partition("/")
        return f"<{quantity}>", unit
    quantity, sep, unit = name.partition("/")
    return (quantity, unit) if sep and quantity and unit else None


def column_index(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """quantity -> (column name, unit) for every column with a unit; the first of a quantity wins."""
    index: dict[str, tuple[str, str]] = {}
    for col in names:
        parts = split_name(str(col))
        if parts is not None and parts[0] not in index:
            index[parts[0]] = (str(col), parts[1])
    return index


def find_column(index: Mapping[str, tuple[str, str]], role: str, label: str) -> tuple[str, float | None] | None:
    """(column, divisor to SI or None when already SI) of the preferred quantity for ``role``, or
    None when the file has none; a column of the role whose unit is unknown is refused."""
    dimension, quantities = ROLES[role]
    for quantity in quantities:
        if quantity not in index:
            continue
        col, unit = index[quantity]
        divisor = UNIT_DIVISORS[dimension].get(unit)
        if divisor is None:
            raise UnreadableFile(f"{label}: column {col!r} has the unit {unit!r}, which is not a {dimension} "
                                 f"unit this reader converts ({', '.join(UNIT_DIVISORS[dimension])}); "
                                 "re-export with standard units or report the unit")
        return col, None if divisor == 1.0 else divisor
    return None


def time_zone(options: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The zone of the instrument's naive wall clock: the share's ``timezone`` option, else UTC as a
    recorded default (EC-Lab never writes the zone)."""
    tz = options.get("timezone") or None
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise UnreadableFile(f"the share's reader option timezone={tz!r} is not an IANA zone name "
                                 "(e.g. 'Europe/Berlin'); fix reader_options in the campaign config") from None
        return tz, {"time_zone": tz, "time_zone_source": "share config"}
    return None, {"time_zone": "UTC", "time_zone_source": "default UTC — the file does not say"}


def start_offset(acquisition_start: pd.Timestamp, time_s: np.ndarray) -> tuple[pd.Timestamp, float | None]:
    """The acquisition start is the wall-clock time of time/s = 0, not of the first record: a file
    whose records start at time/s = 328 s starts 328 s after it. Returns the first record's time."""
    first = float(time_s[0]) if len(time_s) else float("nan")
    if not np.isfinite(first):
        return acquisition_start, None
    return acquisition_start + pd.Timedelta(microseconds=round(first * 1e6)), first


@dataclass(frozen=True)
class ChargeCheck:
    """The vendor's net-charge column to compare our integral with."""

    vendor_column: str


def reconciled_charge(check: ChargeCheck, vendor: np.ndarray, ours: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Compare charge_ah integrated from current (``ours``) with the vendor's (Q-Qo), zeroed at the first
    record; record the disagreement in ``meta``, flag it beyond CHARGE_TOLERANCE, and return the
    vendor's values as charge_ah (the instrument integrates at its own, finer, rate)."""
    finite = np.isfinite(vendor)
    if not finite.any():
        meta.setdefault("flags", []).append(f"vendor charge column {check.vendor_column!r} holds no value; "
                                            "charge_ah integrated from current, unchecked")
        return ours
    ref = vendor - vendor[np.argmax(finite)]
    whole = bool(finite.all())
    top, bottom = (ref.max(), ref.min()) if whole else (np.nanmax(ref), np.nanmin(ref))
    swing = float(top - bottom)
    gap = np.subtract(ours, ref)
    diff = float(np.nanmax(np.abs(gap, out=gap)))
    # relative to the vendor's swing; a vendor charge that never moves while ours does: None (flagged)
    rel = diff / swing if swing > 0 else (0.0 if diff == 0 else None)
    opposite = rel is not None and rel > CHARGE_TOLERANCE and float(np.nanmax(np.abs(ours + ref))) < diff
    meta["charge_check"] = {"vendor_column": check.vendor_column, "max_abs_diff_ah": diff,
                            "relative_to_vendor_swing": rel, "tolerance": CHARGE_TOLERANCE,
                            "sign": "opposite" if opposite else "same"}
    meta["charge_source"] = f"vendor {check.vendor_column}, zeroed at the first record"
    meta["sign_convention"] = SIGN_CONVENTION
    if rel is None or rel > CHARGE_TOLERANCE:
        sign = " with the opposite sign" if opposite else ""
        by = f"{diff:.3g} Ah while it stays constant" if rel is None else f"{rel:.1%} of its swing"
        meta.setdefault("flags", []).append(
            f"charge integrated from current disagrees with the vendor's {check.vendor_column}{sign} by "
            f"{by} (tolerance {CHARGE_TOLERANCE:.0%}); charge_ah holds the vendor's values")
    return ref if whole else np.where(finite, ref, ours)
