"""Bruker/Veeco/DI Nanoscope images (.spm, .000-.999 numbered captures, .di; v4.3 to 10.x; int16 and int32).

The file is a text header (``\\*File list`` ... ``\\*File list end``) followed by binary image blocks.
Physical value = count × hard value ÷ 2^(8·bytes per pixel) × soft scale, where the hard value is
the LAST number of the image's ``\\@2:Z scale`` line WITH ITS UNIT (``1999.969 mV`` is 1.999969 V;
the bracketed per-LSB value is not used) and the soft scale is the ``\\@Sens. X`` entry named in its
brackets (``62 nm/V``). The soft scale's denominator must be the hard value's unit; the result has
the numerator's unit. Rows are returned as stored.

Header keys are matched without case (v5 writes ``Scan size``, v9 ``Scan Size``); the scan size of
a layer falls back to the scan list's (old headers keep it there; one number means a square scan).
Section names of older and non-Ciao software (``AFM image list``, ``STM image list``...) are the same
sections (see Gwyddion's ``nanoscope.c`` and SurfaceTopography's ``DI.py``).

A Zurich HF2LI lock-in recorded through the ``Input1``/``Input2`` layers leaves only volts in the
file; what those volts mean comes from a lock-in sidecar (``lockin.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, MissingInformation, Reader, UnreadableFile
from tasks.afm.lockin import apply_lockin, find_lockin_settings
from tasks.afm.modes import classify_mode
from tasks.afm.units import to_si

_END = b"\\*File list end"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_IMAGE_SECTIONS = ("ciao image list", "afm image list", "stm image list", "ncafm image list", "image list")
#: software 9.2 and later store 32-bit words whatever Bytes/pixel says (SurfaceTopography DI.py)
_VERSION_32BIT = 0x09200000

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


def layer_scale(hard_value: float, hard_unit: str, soft: tuple[float, str] | None) -> tuple[float, str, str]:
    """(SI value of one full-scale hard unit × soft scale, SI unit, problem or '').

    ``hard_value hard_unit`` is the Z scale's value (``1999.969 mV``); ``soft`` the named
    sensitivity (``(62.0, 'nm/V')``), ``(1.0, '')`` when dimensionless, None when the layer has none.
    """
    hard = to_si(hard_unit) if hard_unit else ("1", 1.0)
    if hard is None:
        return hard_value, hard_unit, f"unknown Z scale unit {hard_unit!r}; values kept in it"
    h_unit, h_factor = hard
    value = hard_value * h_factor
    soft_value, soft_unit = soft if soft is not None else (1.0, "")
    if not soft_unit:
        return value * soft_value, h_unit, ""
    num, _, den = soft_unit.partition("/")
    den_si, num_si = to_si(den) if den else None, to_si(num)
    if den_si is None or den_si[0] != h_unit or num_si is None:
        return value, h_unit, (f"sensitivity {soft_value:g} {soft_unit} does not apply to a Z scale in "
                               f"{hard_unit!r}; values left in {h_unit} without it")
    return value / den_si[1] * soft_value * num_si[1], num_si[0], ""


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


def parse_header(text: str) -> tuple[list[str], dict[str, str], dict[str, tuple[float, str]], list[dict[str, str]]]:
    """(section names, global fields, soft scales {name: (value, unit)}, one dict per image section).

    Keys are lower-cased; soft scale names keep their case (they are matched to the Z scale brackets).
    """
    names: list[str] = []
    glob: dict[str, str] = {}
    sens: dict[str, tuple[float, str]] = {}
    sections: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in re.split(r"\r\n|\n|\r", text):
        if not line.startswith("\\"):
            continue
        line = line[1:]
        if line.startswith("*"):
            names.append(line[1:].strip().lower())
            current = {} if names[-1] in _IMAGE_SECTIONS else None
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
        target.setdefault(key.strip().lower(), value)
    return names, glob, sens, sections


def parse_scan_size(value: str | None) -> tuple[float, float, str] | None:
    """'10 10 ~m' -> (10, 10, '~m'); '65000 nm' (old square scans) -> (65000, 65000, 'nm')."""
    parts = (value or "").split()
    try:
        numbers = [float(p) for p in parts[:-1]]
    except ValueError:
        return None
    if len(numbers) not in (1, 2) or len(parts) < 2:
        return None
    return numbers[0], numbers[-1], parts[-1]


def _image_block(sec: dict[str, str], glob: dict[str, str]) -> ImageBlock | None:
    samples = sec.get("samps/line", "").split()
    data_key = next((k for k in sec if re.fullmatch(r"@\d:image data", k)), None)
    if len(samples) != 1 or data_key is None:
        return None  # 1-D layers (Samps/line: 0 0) and non-image sections
    m = re.match(r'\s*S\s+\[([^\]]*)\]\s+"([^"]*)"', sec[data_key])
    if not m:
        raise UnreadableFile(f"Nanoscope image section has an unparsable Image Data line {sec[data_key]!r}")
    key, name = m.group(1), m.group(2)
    zline = sec.get(f"@{data_key[1]}:z scale")
    if zline is None:
        raise UnreadableFile(f"Nanoscope layer {name!r} has no '@{data_key[1]}:Z scale' line: headers older than "
                             "v4.3 are not supported; re-save the file with a newer NanoScope")
    z = re.match(rf"\s*V\s+(?:\[([^\]]+)\]\s+)?\((.*)\)\s+({_NUMBER})\s*(.*)$", zline)
    if not z:
        raise UnreadableFile(f"Nanoscope layer {name!r}: cannot parse its Z scale line {zline!r}")
    sens_name = z.group(1)[len("Sens. "):] if z.group(1) and z.group(1).startswith("Sens. ") else z.group(1)
    size = parse_scan_size(sec.get("scan size")) or parse_scan_size(glob.get("scan size"))
    if size is None:
        raise UnreadableFile(f"Nanoscope layer {name!r}: no readable Scan Size in its section "
                             f"({sec.get('scan size')!r}) nor in the scan list ({glob.get('scan size')!r})")
    return ImageBlock(
        name=name, key=key, offset=int(sec["data offset"]), length=int(sec["data length"]),
        bytes_per_pixel=int(sec.get("bytes/pixel", "2")), samples_per_line=int(samples[0]),
        lines=int(sec["number of lines"]), scan_size=size,
        direction=sec.get("line direction", "").strip().lower(), sens_name=sens_name,
        hard_value=float(z.group(3)), hard_unit=z.group(4).strip(), fields=sec)


def _refuse_force_file(name: str, sections: list[str], glob: dict[str, str]) -> None:
    mode, context = glob.get("operating mode", "").strip(), glob.get("start context", "").strip()
    if sections[:1] == ["force file list"] or mode == "Force" or context == "FOL":
        raise UnreadableFile(
            f"{name} is a Nanoscope force curve file ('{sections[0]}', Operating mode {mode!r}, Start context "
            f"{context!r}): ramps of deflection against Z, not an image; the AFM map pipeline does not take force "
            "spectroscopy — keep it out of the share pattern or route it to a force-curve reader")


def _check_layout(name: str, blocks: list[ImageBlock], size: int, version: int) -> None:
    first = min(b.offset for b in blocks)
    end = max(b.offset + b.length for b in blocks)
    if size <= first:
        raise UnreadableFile(
            f"{name} holds the header only: it ends at byte {size}, before the first of its {len(blocks)} image "
            f"layer(s) (offset {first}; the header announces data up to byte {end}); it is a header export or a "
            "copy cut short — copy the complete file from the NanoScope PC")
    for b in blocks:
        need = b.samples_per_line * b.lines * b.bytes_per_pixel
        if b.bytes_per_pixel not in (2, 4) or b.length < need:
            raise UnreadableFile(f"{name}: layer {b.name!r} declares {b.bytes_per_pixel} bytes/pixel and "
                                 f"{b.length} bytes for {b.samples_per_line}x{b.lines} pixels; unsupported layout")
        if version >= _VERSION_32BIT and b.bytes_per_pixel == 2 and b.length >= 2 * need:
            raise UnreadableFile(f"{name}: layer {b.name!r} (NanoScope {version:#010x}) stores {b.length} bytes for "
                                 f"{b.samples_per_line}x{b.lines} pixels of 2 bytes: 32-bit words with a 16-bit scale, "
                                 "a layout this reader does not yet read; export the layer from NanoScope Analysis")
        if b.offset + need > size:
            raise UnreadableFile(
                f"{name} is truncated: the header announces {len(blocks)} image layers up to byte {end} but the file "
                f"ends at byte {size}, inside layer {b.name!r} (offset {b.offset}); copy the complete file again")


def _quoted(value: str) -> str:
    """The quoted text of a Nanoscope string parameter ('S [TMMode] "Tapping"' -> 'Tapping')."""
    m = re.search(r'"([^"]*)"', value)
    return m.group(1).strip() if m else value.strip()


def _version(glob: dict[str, str]) -> int:
    try:
        return int(glob.get("version", "0").strip(), 16)
    except ValueError:
        return 0


class NanoscopeReader(Reader):
    name = "bruker-nanoscope"
    version = "1.2"
    techniques = ("afm",)
    # .000-.999: NanoScope numbers each capture of a session (v5.x and later); content decides anyway
    suffixes = (".spm", ".di", ".000", ".001")  # and every numbered suffix up to .999: claims_suffix

    def claims_suffix(self, suffix: str) -> bool:
        return suffix in self.suffixes or re.fullmatch(r"\.\d{3}", suffix) is not None
    formats = "Bruker/Veeco/DI Nanoscope images (.spm, numbered .000-.999, .di), v4.3 to 10.x, int16/int32"
    detects_on = "starts with '\\*File list' (or '\\*EC File list'; '\\*Force file list' is refused as a force curve)"
    options_doc = {
        "lockin_sidecar": "path of the lock-in settings YAML for Input1/Input2 layers (see tasks/afm/lockin.py)",
        "lockin": "lock-in settings given inline in the share config (same keys as the sidecar)",
    }
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip()[:32].startswith((b"\\*File list", b"\\*EC File list", b"\\*Force file list"))

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        path = Path(path)
        raw = path.read_bytes()
        text = split_header(raw)
        if text is None:
            raise UnreadableFile(f"{path.name}: Nanoscope header has no '\\*File list end' line; the file is "
                                 "truncated inside its header — copy it again from the instrument PC")
        sections, glob, sens, image_sections = parse_header(text)
        _refuse_force_file(path.name, sections, glob)
        blocks = [b for b in (_image_block(s, glob) for s in image_sections) if b is not None]
        if not blocks:
            raise UnreadableFile(f"{path.name}: the Nanoscope header lists no 2-D image layer "
                                 "(only 1-D plots); nothing to map")
        _check_layout(path.name, blocks, len(raw), _version(glob))
        channels: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        roles: dict[str, str] = {}
        directions: dict[str, str] = {}
        raw_units: dict[str, str] = {}
        problems: dict[str, str] = {}
        for b in blocks:
            if b.sens_name and b.sens_name not in sens:
                raise UnreadableFile(f"{path.name}: layer {b.name!r} is scaled by 'Sens. {b.sens_name}', which the "
                                     "header does not define; the header is incomplete")
            counts = np.frombuffer(raw, dtype=f"<i{b.bytes_per_pixel}", count=b.samples_per_line * b.lines,
                                   offset=b.offset).reshape(b.lines, b.samples_per_line)
            full_scale, si_unit, problem = layer_scale(b.hard_value, b.hard_unit, sens.get(b.sens_name or ""))
            label = f"{b.name} {b.direction}".strip() if b.direction else b.name
            base, k = label, 1
            while label in channels:
                k += 1
                label = f"{base} {k}"
            channels[label] = counts * (full_scale / float(2 ** (8 * b.bytes_per_pixel)))
            roles[label] = nanoscope_role(b.name)
            units[label] = si_unit
            soft = sens.get(b.sens_name or "", (1.0, ""))[1]
            raw_units[label] = f"{b.hard_unit} x {soft}".strip(" x") if soft else b.hard_unit
            directions[label] = b.direction
            if problem:
                problems[label] = problem
        meta = self._meta(path, glob, blocks[0], roles, directions, raw_units)
        if problems:
            meta["scale_problems"] = problems  # channels whose physical scale the header does not fully give
        if any(r == "user_in" for r in roles.values()):
            self._lockin(path, options, channels, units, roles, meta)
        call = classify_mode(meta, roles)
        meta["mode_evidence"] = call.evidence
        return Measurement(technique="afm", kind="afm_map", data=channels, units=units, meta=meta, mode=call.mode)

    @staticmethod
    def _meta(path: Path, glob: dict[str, str], first: ImageBlock, roles: dict[str, str],
              directions: dict[str, str], raw_units: dict[str, str]) -> dict[str, Any]:
        lateral = to_si(first.scan_size[2])
        if lateral is None or lateral[0] != "m":
            raise UnreadableFile(f"{path.name}: scan size unit {first.scan_size[2]!r} is not a length")
        return {
            "vendor": "bruker",
            "nanoscope_version": glob.get("version", ""),
            "scan_size_x_m": first.scan_size[0] * lateral[1],
            # Scan Size gives the fast-axis length twice; fewer lines than samples shorten the slow axis.
            "scan_size_y_m": first.scan_size[1] * lateral[1] * first.lines / first.samples_per_line,
            "roles": roles,
            "directions": directions,
            "raw_units": raw_units,
            "imaging_mode": glob.get("operating mode", "") or glob.get("microscope", ""),
            # the feedback mode the scan ran in ('\\@MicroscopeList: S [TMMode] "Tapping"')
            "acquisition_mode": _quoted(glob.get("@microscopelist", "")),
            "acquired_at": glob.get("date", ""),
            "location_note": glob.get("note", "") or first.fields.get("note", ""),
        }

    @staticmethod
    def _lockin(path: Path, options: Mapping[str, Any], channels: dict[str, np.ndarray], units: dict[str, str],
                roles: dict[str, str], meta: dict[str, Any]) -> None:
        settings = find_lockin_settings(path, options)
        if settings is not None:
            apply_lockin(settings, channels, units, roles, meta)
        elif "current" not in roles.values():
            inputs = [c for c, r in roles.items() if r == "user_in"]
            raise MissingInformation(
                f"{path.name} records lock-in outputs {inputs} in volts, but no lock-in settings were given: "
                "put a sidecar '<file>.lockin.yaml' next to it or set reader_options.lockin_sidecar / "
                "reader_options.lockin in the share config (drive amplitude, contact Q, and per input "
                "its signal, offset and scale; see tasks/afm/lockin.py)")
