"""Bruker/Veeco Nanoscope images (.spm, .000, .001..., .di; versions 5.x to 10.x; int16 and int32).

The file is a text header (``\\*File list`` ... ``\\*File list end``) followed by binary image blocks.
Physical value = raw × (hard value ÷ 2^(8·bytes per pixel)) × soft scale, where the hard value is
the LAST number of the image's ``\\@2:Z scale`` line (not the bracketed V/LSB) and the soft scale is
the ``\\@Sens. X`` entry named in its brackets (unit/V). Rows are returned as stored.

A Zurich HF2LI lock-in recorded through the ``Input1``/``Input2`` layers leaves only volts in the
file; what those volts mean comes from a lock-in sidecar (``lockin.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tasks.afm.channels import mode_from_roles
from tasks.afm.lockin import apply_lockin, find_lockin_settings
from tasks.contract import Measurement, MissingInformation, Reader, UnreadableFile

_END = b"\\*File list end"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

#: physical unit prefix -> (SI unit, factor)
_SI: dict[str, tuple[str, float]] = {
    "m": ("m", 1.0), "mm": ("m", 1e-3), "um": ("m", 1e-6), "~m": ("m", 1e-6), "µm": ("m", 1e-6),
    "nm": ("m", 1e-9), "pm": ("m", 1e-12), "Å": ("m", 1e-10),
    "V": ("V", 1.0), "mV": ("V", 1e-3), "uV": ("V", 1e-6),
    "A": ("A", 1.0), "mA": ("A", 1e-3), "uA": ("A", 1e-6), "~A": ("A", 1e-6), "nA": ("A", 1e-9),
    "pA": ("A", 1e-12), "fA": ("A", 1e-15),
    "º": ("deg", 1.0), "°": ("deg", 1.0), "deg": ("deg", 1.0),
    "Hz": ("Hz", 1.0), "kHz": ("Hz", 1e3), "MHz": ("Hz", 1e6),
}

_NANOSCOPE_ROLES: list[tuple[str, str]] = [
    (r"^height", "height"),
    (r"^z sensor|^zsensor", "height"),
    (r"^phase", "phase"),
    (r"current|^tuna", "current"),
    (r"^deflection", "deflection"),
    (r"^friction|^lateral", "friction"),
    (r"^input\d", "user_in"),
    (r"^potential", "potential"),
]


def nanoscope_role(name: str) -> str:
    key = name.strip().lower()
    for pattern, role in _NANOSCOPE_ROLES:
        if re.search(pattern, key):
            return role
    return "other"  # e.g. tapping 'Amplitude Error' is a feedback error, not a strain amplitude


@dataclass
class ImageBlock:
    name: str
    key: str
    offset: int
    length: int
    bytes_per_pixel: int
    samples_per_line: int
    lines: int
    scan_size: tuple[float, float, str]
    direction: str
    sens_name: str | None
    hard_value: float
    hard_unit: str
    fields: dict[str, str] = field(default_factory=dict)


def split_header(head: bytes) -> str | None:
    end = head.find(_END)
    if end < 0:
        return None
    return head[:end].decode("latin-1")


def parse_header(text: str) -> tuple[dict[str, str], dict[str, tuple[float, str]], list[dict[str, str]]]:
    """(global fields, soft scales {name: (value, unit)}, one dict of fields per image section)."""
    glob: dict[str, str] = {}
    sens: dict[str, tuple[float, str]] = {}
    sections: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in re.split(r"\r\n|\n|\r", text):
        if not line.startswith("\\"):
            continue
        line = line[1:]
        if line.startswith("*"):
            current = {} if line.strip() == "*Ciao image list" else None
            if current is not None:
                sections.append(current)
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, value = line.rstrip(":"), ""
        if key.startswith("@Sens. "):
            m = re.match(rf"\s*V\s+({_NUMBER})\s*(.*)$", value)
            if m:
                sens.setdefault(key[len("@Sens. "):], (float(m.group(1)), m.group(2).strip()))
            continue
        target = current if current is not None else glob
        target.setdefault(key, value)
    return glob, sens, sections


def _image_block(sec: dict[str, str]) -> ImageBlock | None:
    samples = sec.get("Samps/line", "").split()
    if len(samples) != 1 or "@2:Image Data" not in sec:
        return None  # 1-D layers (Samps/line: 0 0) and non-image sections
    m = re.match(r'\s*S\s+\[([^\]]*)\]\s+"([^"]*)"', sec["@2:Image Data"])
    if not m:
        raise UnreadableFile(f"Nanoscope image section has an unparsable Image Data line {sec['@2:Image Data']!r}")
    key, name = m.group(1), m.group(2)
    zline = sec.get("@2:Z scale", "")
    z = re.match(rf"\s*V\s+(?:\[([^\]]+)\]\s+)?\(([^)]*)\)\s+({_NUMBER})\s*(.*)$", zline)
    if not z:
        raise UnreadableFile(f"Nanoscope layer {name!r}: cannot parse its Z scale line {zline!r}")
    sens_name = z.group(1)[len("Sens. "):] if z.group(1) and z.group(1).startswith("Sens. ") else z.group(1)
    size = sec.get("Scan Size", "").split()
    if len(size) < 3:
        raise UnreadableFile(f"Nanoscope layer {name!r}: Scan Size {sec.get('Scan Size')!r} lacks x, y and a unit")
    return ImageBlock(
        name=name, key=key, offset=int(sec["Data offset"]), length=int(sec["Data length"]),
        bytes_per_pixel=int(sec.get("Bytes/pixel", "2")), samples_per_line=int(samples[0]),
        lines=int(sec["Number of lines"]), scan_size=(float(size[0]), float(size[1]), size[2]),
        direction=sec.get("Line Direction", "").strip().lower(), sens_name=sens_name,
        hard_value=float(z.group(3)), hard_unit=z.group(4).strip(), fields=sec)


def to_si(unit: str) -> tuple[str, float]:
    if unit in _SI:
        return _SI[unit]
    raise KeyError(unit)


class NanoscopeReader(Reader):
    name = "bruker-nanoscope"
    version = "1.0"
    techniques = ("afm",)
    suffixes = (".spm", ".000", ".001", ".002", ".003", ".004", ".005", ".di")

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip()[:32].startswith((b"\\*File list", b"\\*EC File list", b"\\*Force file list"))

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        path = Path(path)
        raw = path.read_bytes()
        text = split_header(raw)
        if text is None:
            raise UnreadableFile(f"{path.name}: Nanoscope header has no '\\*File list end' line; the file is "
                                 "truncated inside its header — copy it again from the instrument PC")
        if "*Force file list" in text[:64]:
            raise UnreadableFile(f"{path.name} is a Nanoscope force-volume/force-curve file, not an image; "
                                 "the AFM map pipeline does not take force spectroscopy")
        glob, sens, sections = parse_header(text)
        blocks = [b for b in (_image_block(s) for s in sections) if b is not None]
        if not blocks:
            raise UnreadableFile(f"{path.name}: the Nanoscope header lists no 2-D image layer "
                                 "(only 1-D plots); nothing to map")
        for b in blocks:
            need = b.samples_per_line * b.lines * b.bytes_per_pixel
            if b.bytes_per_pixel not in (2, 4) or b.length < need:
                raise UnreadableFile(f"{path.name}: layer {b.name!r} declares {b.bytes_per_pixel} bytes/pixel and "
                                     f"{b.length} bytes for {b.samples_per_line}x{b.lines} pixels; unsupported layout")
            if b.offset + need > len(raw):
                raise UnreadableFile(
                    f"{path.name}: the header announces {len(blocks)} image layers up to byte "
                    f"{max(x.offset + x.length for x in blocks)} but the file ends at byte {len(raw)}: it holds the "
                    f"header only or is truncated (layer {b.name!r} at offset {b.offset} is missing); "
                    "re-export or copy the complete file from NanoScope")
        channels: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        roles: dict[str, str] = {}
        directions: dict[str, str] = {}
        raw_units: dict[str, str] = {}
        for b in blocks:
            counts = np.frombuffer(raw, dtype=f"<i{b.bytes_per_pixel}", count=b.samples_per_line * b.lines,
                                   offset=b.offset).reshape(b.lines, b.samples_per_line)
            soft, soft_unit = sens.get(b.sens_name or "", (1.0, ""))
            if b.sens_name and b.sens_name not in sens:
                raise UnreadableFile(f"{path.name}: layer {b.name!r} is scaled by 'Sens. {b.sens_name}', which the "
                                     "header does not define; the header is incomplete")
            unit = soft_unit[:-2] if soft_unit.endswith("/V") else (soft_unit or b.hard_unit)
            try:
                si_unit, factor = to_si(unit.strip())
            except KeyError:
                si_unit, factor = unit.strip() or "1", 1.0
            scale = b.hard_value / float(2 ** (8 * b.bytes_per_pixel)) * soft * factor
            label = f"{b.name} {b.direction}".strip() if b.direction else b.name
            base, k = label, 1
            while label in channels:
                k += 1
                label = f"{base} {k}"
            channels[label] = counts.astype(np.float64) * scale
            roles[label] = nanoscope_role(b.name)
            units[label] = si_unit
            raw_units[label] = unit
            directions[label] = b.direction
        first = blocks[0]
        size_unit, size_factor = to_si(first.scan_size[2])
        meta: dict[str, Any] = {
            "vendor": "bruker",
            "nanoscope_version": glob.get("Version", ""),
            "scan_size_x_m": first.scan_size[0] * size_factor,
            # Scan Size gives the fast-axis length twice; fewer lines than samples shorten the slow axis.
            "scan_size_y_m": first.scan_size[1] * size_factor * first.lines / first.samples_per_line,
            "roles": roles,
            "directions": directions,
            "raw_units": raw_units,
            "imaging_mode": glob.get("Operating mode", "") or glob.get("Microscope", ""),
            "acquired_at": glob.get("Date", ""),
            "location_note": glob.get("Note", "") or first.fields.get("Note", ""),
        }
        if any(r == "user_in" for r in roles.values()):
            settings = find_lockin_settings(path, options)
            if settings is None:
                inputs = [c for c, r in roles.items() if r == "user_in"]
                if "current" not in roles.values():
                    raise MissingInformation(
                        f"{path.name} records lock-in outputs {inputs} in volts, but no lock-in settings were given: "
                        "put a sidecar '<file>.lockin.yaml' next to it or set reader_options.lockin_sidecar / "
                        "reader_options.lockin in the share config (drive amplitude, contact Q, and per input "
                        "its signal, offset and scale; see tasks/afm/lockin.py)")
            else:
                apply_lockin(settings, channels, units, roles, meta)
        return Measurement(technique="afm", kind="afm_map", data=channels, units=units, meta=meta,
                           mode=mode_from_roles(roles, meta["imaging_mode"]))
