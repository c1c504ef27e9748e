"""Gwyddion native files (.gwy) through gwyfile; an Asylum note kept under /N/meta stays typed."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tasks.afm.asylum_note import typed_metadata
from tasks.afm.channels import ROLE_UNITS, asylum_role, mode_from_roles, split_direction
from tasks.contract import Measurement, Reader, UnreadableFile

_SI_PREFIX = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "k": 1e3}


def _unit(si_unit: Any) -> str:
    return str(si_unit.get("unitstr", "") or "") if si_unit is not None else ""


class GwyddionReader(Reader):
    name = "gwyddion-gwy"
    version = "1.0"
    techniques = ("afm",)
    suffixes = (".gwy",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head[:4] == b"GWYP"

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        import gwyfile

        try:
            container = gwyfile.load(str(path))
            fields = gwyfile.util.get_datafields(container)
        except Exception as exc:
            raise UnreadableFile(f"gwyfile cannot parse {Path(path).name}: {exc}; the file is damaged or not a "
                                 "Gwyddion 2 container") from None
        if not fields:
            raise UnreadableFile(f"{Path(path).name} holds no data field (image); nothing to map")
        channels: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        roles: dict[str, str] = {}
        directions: dict[str, str] = {}
        sizes = set()
        for title, df in fields.items():
            z_unit = _unit(df.get("si_unit_z"))
            role = asylum_role(title)
            # A field stored in its role's SI unit (or with no unit, as gwyfile writes) keeps it;
            # another unit is kept as written rather than guessed.
            if z_unit in ("", ROLE_UNITS[role]) or role == "phase" and z_unit in ("deg", "°"):
                unit = ROLE_UNITS[role] if z_unit else ("1" if role == "other" else ROLE_UNITS[role])
            else:
                unit, role = z_unit, "other"
            channels[title] = np.asarray(df.data, dtype=np.float64)
            units[title], roles[title] = unit, role
            directions[title] = split_direction(title)[1]
            xy_unit = _unit(df.get("si_unit_xy"))
            sizes.add((float(df.xreal), float(df.yreal), xy_unit))
        if len(sizes) != 1:
            raise UnreadableFile(f"{Path(path).name}: its fields have different sizes {sorted(sizes)}; "
                                 "export one image per file")
        xreal, yreal, xy_unit = sizes.pop()
        if xy_unit not in ("m", ""):
            raise UnreadableFile(f"{Path(path).name}: lateral unit {xy_unit!r} is not metres")
        meta: dict[str, Any] = {"vendor": "gwyddion", "lateral_unit_declared": bool(xy_unit)}
        asylum = self._asylum_note(container)
        if asylum:
            meta.update(typed_metadata(asylum))
            meta["raw_note"] = asylum
        else:
            meta["imaging_mode"] = ""
        meta.update({"scan_size_x_m": xreal, "scan_size_y_m": yreal, "roles": roles, "directions": directions})
        return Measurement(technique="afm", kind="afm_map", data=channels, units=units, meta=meta,
                           mode=mode_from_roles(roles, meta.get("imaging_mode", "")))

    @staticmethod
    def _asylum_note(container: Any) -> dict[str, str]:
        for key in sorted(container.keys()):
            if re.fullmatch(r"/\d+/meta", key):
                meta = container[key]
                return {str(k): str(meta[k]) for k in meta.keys()}
        return {}
