"""Gwyddion native files (.gwy): Gwyddion 2 (``GWYP``) through gwyfile, Gwyddion 1.x (``GWYO``) through
``gwyo.py``; an Asylum note kept under /N/meta stays typed.

Every ``/N/data`` GwyDataField is a channel (titled by ``/N/data/title``, else ``Data N``). Values and
sizes are in base SI units: Gwyddion itself drops a prefix found in a stored unit string
(``gwy_si_unit_new`` parses it without keeping the power of ten), so a Gwyddion 1 field saved with
``µm``/``nm`` holds metres; the dropped prefixes are recorded in the metadata. A field without a
lateral unit has no physical size and is refused.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile, cut_reason
from tasks.afm.asylum_note import typed_metadata
from tasks.afm.channels import ROLE_UNITS, asylum_role, split_direction
from tasks.afm.gwyo import MAGIC as GWYO_MAGIC
from tasks.afm.gwyo import GwyFormatError, read_gwyo
from tasks.afm.modes import classify_mode
from tasks.afm.units import to_si


def _unit(si_unit: Any) -> str:
    return str(si_unit.get("unitstr", "") or "") if si_unit is not None else ""


def _base(unit: str) -> tuple[str, bool]:
    """(unit without its prefix, whether a prefix was dropped); unknown units are kept as written."""
    si = to_si(unit) if unit else None
    return (si[0], si[1] != 1.0) if si else (unit, False)


def data_fields(container: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(title, GwyDataField) of every /N/data, in channel order, titled or not."""
    numbers = sorted(int(m.group(1)) for k in container if (m := re.fullmatch(r"/(\d+)/data", str(k))))
    return [(str(container.get(f"/{n}/data/title") or f"Data {n}"), container[f"/{n}/data"]) for n in numbers
            if isinstance(container[f"/{n}/data"], Mapping) and "xres" in container[f"/{n}/data"]]


def field_values(df: Mapping[str, Any]) -> np.ndarray:
    xres, yres = int(df["xres"]), int(df["yres"])
    data = np.asarray(df["data"], dtype=np.float64)
    if data.size != xres * yres:
        raise UnreadableFile(f"a data field declares {xres}x{yres} pixels but holds {data.size} values")
    return data.reshape(yres, xres)  # Gwyddion stores rows (y) of xres values


class GwyddionReader(Reader):
    name = "gwyddion-gwy"
    version = "1.2"
    techniques = ("afm",)
    suffixes = (".gwy",)
    formats = "Gwyddion native files (.gwy), Gwyddion 2 (GWYP) and Gwyddion 1.x (GWYO)"
    detects_on = "starts with 'GWYP' or 'GWYO'"
    options_doc: Mapping[str, str] = {}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        return head[:4] in (b"GWYP", GWYO_MAGIC)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        path = Path(path)
        container, generation = self._load(path)
        fields = data_fields(container)
        if not fields:
            raise UnreadableFile(f"{path.name} holds no data field (image); nothing to map")
        channels: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        roles: dict[str, str] = {}
        dropped: dict[str, str] = {}
        inferred: list[str] = []
        sizes = set()
        for title, df in fields:
            z_unit, z_prefixed = _base(_unit(df.get("si_unit_z")))
            xy_unit, xy_prefixed = _base(_unit(df.get("si_unit_xy")))
            dropped.update({f"{title} z": _unit(df.get("si_unit_z"))} if z_prefixed else {})
            dropped.update({f"{title} xy": _unit(df.get("si_unit_xy"))} if xy_prefixed else {})
            role = asylum_role(title)
            if role == "other" and z_unit == "m":
                role = "height"  # an unnamed field in metres is a topography; said in the metadata
                inferred.append(title)
            # A field stored in its role's SI unit (or with no unit, as gwyfile writes) keeps it;
            # another unit is kept as written rather than guessed.
            if z_unit in ("", ROLE_UNITS[role]) or role == "phase" and z_unit in ("deg", "°"):
                unit = ROLE_UNITS[role] if z_unit else ("1" if role == "other" else ROLE_UNITS[role])
            else:
                unit, role = z_unit, "other"
            channels[title] = field_values(df)
            units[title], roles[title] = unit, role
            sizes.add((float(df["xreal"]), float(df["yreal"]), xy_unit))
        if len(sizes) != 1:
            raise UnreadableFile(f"{path.name}: its fields have different sizes {sorted(sizes)}; "
                                 "export one image per file")
        xreal, yreal, xy_unit = sizes.pop()
        if xy_unit != "m":
            what = f"lateral unit {xy_unit!r} is not a length" if xy_unit else "its fields have no lateral unit"
            raise UnreadableFile(f"{path.name}: {what} ({xreal:g} x {yreal:g} in pixels or arbitrary units): it has "
                                 "no physical size; set the lateral calibration in Gwyddion and save again")
        meta = self._meta(container, roles, generation)
        meta.update({"scan_size_x_m": xreal, "scan_size_y_m": yreal})
        if dropped:
            meta["unit_prefixes_dropped"] = dropped  # values are base SI, as Gwyddion reads them
        if inferred:
            meta["roles_from_units"] = inferred
        call = classify_mode(meta, roles)
        meta["mode_evidence"] = call.evidence
        return Measurement(technique="afm", kind="afm_map", data=channels, units=units, meta=meta, mode=call.mode)

    @staticmethod
    def _load(path: Path) -> tuple[Mapping[str, Any], str]:
        raw = path.read_bytes()
        if raw[:4] == GWYO_MAGIC:
            try:
                return read_gwyo(raw), "Gwyddion 1.x (GWYO)"
            except GwyFormatError as exc:
                raise UnreadableFile(f"{path.name}: Gwyddion 1.x (GWYO) file is damaged: {exc}") from None
        import gwyfile

        try:
            return gwyfile.load(str(path)), "Gwyddion 2 (GWYP)"
        except struct.error:  # a record read past the end of the data
            raise UnreadableFile(f"{path.name}: a Gwyddion 2 record runs past the end of the file; the file is "
                                 "truncated or damaged — save it again from Gwyddion") from None
        except Exception as exc:
            raise UnreadableFile(f"gwyfile cannot parse {path.name} ({type(exc).__name__}: {cut_reason(exc, 120)}): "
                                 "the file is damaged, truncated or not a Gwyddion 2 container") from None

    @classmethod
    def _meta(cls, container: Mapping[str, Any], roles: dict[str, str], generation: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"vendor": "gwyddion", "gwyddion_format": generation}
        asylum = cls._asylum_note(container)
        if asylum:
            meta.update(typed_metadata(asylum))
            meta["raw_note"] = asylum
        else:
            meta["imaging_mode"] = ""
        meta.update({"roles": roles, "directions": {c: split_direction(c)[1] for c in roles}})
        return meta

    @staticmethod
    def _asylum_note(container: Any) -> dict[str, str]:
        for key in sorted(container.keys()):
            if re.fullmatch(r"/\d+/meta", key):
                meta = container[key]
                return {str(k): str(meta[k]) for k in meta.keys()}
        return {}
