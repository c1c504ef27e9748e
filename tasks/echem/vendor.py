"""Small helpers the cycler text readers share: column units taken from the header's own suffix
(``Current(µA)``, ``Voltage [mV]``, ``Test (Min)``) through one explicit conversion table, required
columns checked with a reason that names what is missing and what the file has, and the time zone
in which naive vendor wall-clock times were read, recorded in the measurement's meta.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from foundation.contract import UnreadableFile, quote_names

#: vendor unit spelling -> factor to the canonical unit of its quantity (A, V, Ah, s)
TO_SI: dict[str, dict[str, float]] = {
    "current": {"a": 1.0, "ma": 1e-3, "µa": 1e-6, "μa": 1e-6, "ua": 1e-6, "na": 1e-9},
    "voltage": {"v": 1.0, "mv": 1e-3, "µv": 1e-6, "μv": 1e-6, "uv": 1e-6},
    "capacity": {"ah": 1.0, "mah": 1e-3, "µah": 1e-6, "μah": 1e-6, "uah": 1e-6},
    "time": {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0},
}
_SUFFIX = re.compile(r"^(?P<name>.*?)\s*[(\[](?P<unit>[^)\]]*)[)\]]\s*$")


def split_unit(column: str) -> tuple[str, str | None]:
    """'Current(µA)' -> ('Current', 'µA'); 'Volts' -> ('Volts', None)."""
    m = _SUFFIX.match(column.strip())
    return (m.group("name").strip(), m.group("unit").strip()) if m else (column.strip(), None)


def unit_factor(column: str, quantity: str, label: str, default: str | None = None) -> float:
    """Factor that turns the column's values into the canonical unit of ``quantity``, from the unit
    in its name (``default`` when the name has none). An unknown unit is a refusal naming it."""
    unit = split_unit(column)[1] or default
    if unit is None:
        raise UnreadableFile(f"{label}: column {column!r} states no unit; cannot convert {quantity} to SI")
    factor = TO_SI[quantity].get(unit.lower())
    if factor is None:
        known = sorted({u for u in TO_SI[quantity]})
        raise UnreadableFile(f"{label}: unknown {quantity} unit {unit!r} in column {column!r} (known: {known}); "
                             "re-export in a listed unit or ask for the unit to be added")
    return factor


def find_quantity(columns: Iterable[str], *names: str) -> str | None:
    """The first column whose name without its unit suffix is one of ``names`` (case-insensitive)."""
    wanted = [n.lower() for n in names]
    by_name = {}
    for c in columns:
        by_name.setdefault(split_unit(c)[0].lower(), c)
    return next((by_name[n] for n in wanted if n in by_name), None)


def require(found: Mapping[str, str | None], columns: Iterable[str], label: str) -> None:
    """Refuse when a needed column is absent: ``found`` maps what is needed to the column picked
    for it (None when none was); the reason names the missing ones and lists the file's columns."""
    missing = [need for need, col in found.items() if col is None]
    if missing:
        raise UnreadableFile(f"{label}: no {' / '.join(missing)} column; the file has columns "
                             f"{quote_names(columns, 30)}; export those columns or map them in reader_options")


def timezone_of(options: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The zone for naive vendor times (share ``reader_options.timezone``) and the meta recording it:
    which zone was used and whether it was configured or defaulted to UTC."""
    tz = options.get("timezone")
    if tz:
        return str(tz), {"timezone": str(tz), "timezone_source": "reader_options.timezone"}
    return None, {"timezone": "UTC", "timezone_source": "default: no reader_options.timezone, naive times taken as UTC"}
