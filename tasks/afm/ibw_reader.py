"""Igor binary waves (.ibw, v5): Asylum Research images (Cypher/MFP-3D PFM, DART-ESM, ORCA C-AFM) and
other instruments' 2-D image waves whose units and scaling are in the wave header.

igor2 reads the wave and its note. What the wave is decides what happens (``classify``): a 2-D image
or an Asylum stack of labelled layers is read; a text wave, a 1-D wave, a force curve (columns
labelled on dimension 1), a 3-D cube whose third axis is scaled (a spectroscopy volume such as CITS)
or a wave with no physical scaling is refused with what it is. Sizes come from the Asylum note, else
from the wave's own x/y scaling when its units are lengths — never from an unscaled index.

Two Asylum quirks are handled here:
- channel labels are 32-byte fields in which Asylum leaves stale bytes after the NUL
  ('PhaseRetrace\\0race'); igor2 joins them after dropping NULs, so the raw label block is
  re-read and each field cut at its first NUL;
- the wave stores ONE unit for all layers, so each channel's unit follows its name
  (``channels.ROLE_UNITS``); phase is degrees, currents amperes, frequencies hertz.
A wave of another instrument has one channel whose unit is the wave's data unit; its role follows
that unit. The map's mode comes from ``modes.classify_mode`` (a bare height image is TOPO; an image
with neither a height nor a stated mode, such as an STM current, gets none).
"""
from __future__ import annotations

import logging
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile, cut_reason
from tasks.afm.asylum_note import parse_note, typed_metadata
from tasks.afm.channels import ROLE_UNITS, asylum_role, split_direction
from tasks.afm.modes import classify_mode
from tasks.afm.units import to_si

_V5_HEADER = 64 + 320  # BinHeader5 + WaveHeader5
_LABEL_BYTES = 32
_TEXT_WAVE, _COMPLEX = 0, 0x01
#: role of a non-Asylum image from the SI unit of its values
_ROLE_OF_UNIT = {"m": "height", "A": "current", "deg": "phase"}


def _checksum_ok(head: bytes, size: int, endian: str) -> bool:
    if len(head) < size:
        return False
    words = np.frombuffer(head[:size], dtype=f"{endian}u2").astype(np.uint32)
    return int(words.sum()) & 0xFFFF == 0


def _endian(head: bytes) -> str | None:
    if len(head) < 2:
        return None
    if struct.unpack("<h", head[:2])[0] == 5:
        return "<"
    if struct.unpack(">h", head[:2])[0] == 5:
        return ">"
    return None


_BIN_HEADER5 = "hhiiii4i4iiii"  # version, checksum, wfmSize, formula, note, dataEUnits, dimEUnits[4], dimLabels[4], sIndices, options1, options2


def check_sizes(name: str, raw: bytes, endian: str) -> None:
    """The file is as long as its BinHeader5 says (sizes validated before igor2 allocates or reshapes
    anything: on a short file it logs the whole data block and raises a bare ValueError)."""
    if len(raw) < _V5_HEADER:
        raise UnreadableFile(f"{name} is truncated: it ends at byte {len(raw)}, inside the {_V5_HEADER}-byte Igor "
                             "wave header; copy it again from the instrument PC")
    if not _checksum_ok(raw, _V5_HEADER, endian):
        raise UnreadableFile(f"{name}: the Igor wave header is damaged (its checksum does not add up); "
                             "copy the file again or re-save it from the Asylum software")
    fields = struct.unpack(endian + _BIN_HEADER5, raw[:64])
    sizes = fields[2:6] + fields[6:10] + fields[10:14] + fields[14:15]
    if any(size < 0 for size in sizes) or fields[2] < 320:
        raise UnreadableFile(f"{name}: the Igor wave header announces impossible block sizes; the header is damaged")
    announced = 64 + sum(sizes)
    if announced > len(raw):
        raise UnreadableFile(f"{name} is truncated: its header announces {announced} bytes but the file ends at "
                             f"byte {len(raw)}; copy it again from the instrument PC")


@contextmanager
def _quiet_igor2():
    """igor2 logs whole data blocks (megabytes of bytes) at error level before it raises: mute it."""
    logger = logging.getLogger("igor2")
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


def layer_labels(raw: bytes, bin_header: Mapping[str, Any], dim: int) -> list[str]:
    """Labels of one dimension, each 32-byte field cut at its first NUL (index 0 = the dimension)."""
    offset = (64 + int(bin_header["wfmSize"]) + int(bin_header["formulaSize"]) + int(bin_header["noteSize"])
              + int(bin_header["dataEUnitsSize"]) + int(np.sum(bin_header["dimEUnitsSize"])))
    sizes = [int(s) for s in bin_header["dimLabelsSize"]]
    offset += sum(sizes[:dim])
    block = raw[offset: offset + sizes[dim]]
    fields = [block[i: i + _LABEL_BYTES] for i in range(0, len(block), _LABEL_BYTES)]
    return [f.split(b"\0", 1)[0].decode("latin-1") for f in fields]


def wave_units(wave: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(unit of the values, unit of each dimension); the extended unit wins when the wave has one."""
    header = wave["wave_header"]

    def text(value: Any) -> str:
        joined = b"".join(value) if isinstance(value, (list, np.ndarray)) else bytes(value or b"")
        return joined.decode("latin-1").strip("\0 ")

    data_unit = text(wave.get("data_units")) or text(header["dataUnits"])
    extended = wave.get("dimension_units")
    dims = [text(header["dimUnits"][i]) for i in range(4)]
    if isinstance(extended, (list, tuple)):
        dims = [text(e) or d for e, d in zip(extended, dims)]
    return data_unit, dims


def classify(name: str, wave: Mapping[str, Any], raw: bytes) -> tuple[str, list[str]]:
    """('image', []) for one 2-D image, ('stack', labels) for labelled layers; else UnreadableFile saying
    what the wave is."""
    header = wave["wave_header"]
    shape = tuple(int(n) for n in header["nDim"] if n > 0)
    data_unit, dims = wave_units(wave)
    values = f"values in {data_unit!r}" if data_unit else "values without a unit"
    if int(header["type"]) == _TEXT_WAVE:
        raise UnreadableFile(f"{name} is an Igor text wave of {int(np.prod(shape))} strings, not an image")
    if int(header["type"]) & _COMPLEX:
        raise UnreadableFile(f"{name} is a complex Igor wave of shape {shape}, not an image")
    if len(shape) == 1:
        raise UnreadableFile(f"{name} is a 1-D Igor wave of {shape[0]} points (x in {dims[0] or 'no unit'!r}, "
                             f"{values}): a trace or curve, not an image")
    column_labels = [lab for lab in layer_labels(raw, wave["bin_header"], 1)[1:] if lab]
    if len(shape) == 2 and column_labels:
        raise UnreadableFile(
            f"{name} is an Asylum force curve: a 2-D wave of {shape[0]} points (x in {dims[0] or 'no unit'!r}) "
            f"x {shape[1]} columns {column_labels}, not an image; the AFM map pipeline does not take force "
            "spectroscopy — keep it out of the share pattern or route it to a force-curve reader")
    if len(shape) == 2:
        if min(shape) < 2:
            raise UnreadableFile(f"{name} is a {shape[0]}x{shape[1]} Igor wave: a single line, not an image")
        return "image", []
    if len(shape) == 3:
        labels = [lab for lab in layer_labels(raw, wave["bin_header"], 2)[1:]]
        if any(labels):
            return "stack", labels + [""] * (shape[2] - len(labels))
        if shape[2] == 1:
            return "image", []  # one unnamed layer: a 2-D image saved as 3-D (Gwyddion's Igor export does)
        if dims[2] or float(header["sfA"][2]) != 1.0:
            start = float(header["sfB"][2])
            end = start + float(header["sfA"][2]) * (shape[2] - 1)
            raise UnreadableFile(
                f"{name} is a 3-D cube of shape {shape}: x and y in {dims[0] or 'no unit'!r}, a third axis of "
                f"{shape[2]} points from {start:g} to {end:g} {dims[2]}, {values} — a spectroscopy volume (one "
                "curve per pixel, e.g. CITS), not a stack of image channels")
        raise UnreadableFile(f"{name} is a 3-D cube of shape {shape} with no layer labels and no unit on its "
                             "third axis: neither named image channels nor a scaled volume")
    raise UnreadableFile(f"{name} is a {len(shape)}-D Igor wave of shape {shape}, not an image")


def lateral_size(name: str, wave: Mapping[str, Any], meta: Mapping[str, Any], nx: int, ny: int) -> tuple[float, float]:
    """From the Asylum note, else the wave's x/y scaling when both its units are lengths."""
    fast = meta.get("fast_scan_size_m") or meta.get("scan_size_m")
    slow = meta.get("slow_scan_size_m") or meta.get("scan_size_m")
    if fast and slow:
        return float(fast), float(slow)
    _, dims = wave_units(wave)
    sfa = wave["wave_header"]["sfA"]
    x_si, y_si = to_si(dims[0]), to_si(dims[1])
    if not (x_si and y_si and x_si[0] == y_si[0] == "m"):
        raise UnreadableFile(
            f"{name}: a {nx}x{ny} image with no physical scaling (x step {float(sfa[0]):g} "
            f"{dims[0] or 'without unit'}, y step {float(sfa[1]):g} {dims[1] or 'without unit'}) and no scan size "
            "in its note: it has no physical size; re-export it with its lateral calibration")
    return float(sfa[0]) * nx * x_si[1], float(sfa[1]) * ny * y_si[1]


class AsylumIbwReader(Reader):
    name = "asylum-ibw"
    version = "1.2"
    techniques = ("afm",)
    suffixes = (".ibw",)
    formats = ("Igor binary wave v5 (.ibw): Asylum Research images (labelled layer stacks, PFM/DART/ORCA) and "
               "2-D image waves of other instruments with length-scaled x/y")
    detects_on = "Igor binary wave version 5 header with a valid checksum"
    options_doc: Mapping[str, str] = {}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        # Igor v5 files: version 5 and a zero 16-bit checksum over the two headers; a file cut inside
        # its header is claimed too (with its suffix), so that read says it is truncated.
        endian = _endian(head)
        if endian is not None and len(head) < _V5_HEADER:
            return self.claims_suffix(Path(name).suffix.lower())
        return endian is not None and _checksum_ok(head, _V5_HEADER, endian)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        from igor2 import binarywave

        path = Path(path)
        raw = path.read_bytes()
        endian = _endian(raw)
        if endian is None:
            raise UnreadableFile(f"{path.name} is not an Igor binary wave version 5 (Asylum saves v5); "
                                 "re-save the image from the Asylum software")
        check_sizes(path.name, raw, endian)
        try:
            with _quiet_igor2():
                wave = binarywave.load(str(path))["wave"]
        except Exception as exc:  # igor2 raises bare struct/ValueErrors on damage
            raise UnreadableFile(f"igor2 cannot parse {path.name} ({type(exc).__name__}: {cut_reason(exc, 120)}): "
                                 "the file is damaged or truncated (compare its size with the original on the "
                                 "instrument PC)") from None
        kind, labels = classify(path.name, wave, raw)
        note = parse_note(wave["note"].decode("latin-1", errors="replace"))
        meta = typed_metadata(note)
        data = np.asarray(wave["wData"])
        if kind == "image":
            data = data.reshape(data.shape[0], data.shape[1], 1)
        fast, slow = lateral_size(path.name, wave, meta, data.shape[0], data.shape[1])
        wave_name = wave["wave_header"]["bname"].decode("latin-1", errors="replace")
        asylum = kind == "stack"
        channels, units, roles = (self._asylum_layers(data, labels) if asylum
                                  else self._single_image(data[:, :, 0], wave, wave_name))
        meta.update({
            "vendor": "asylum" if asylum else "",
            "scan_size_x_m": fast,
            "scan_size_y_m": slow,
            "roles": roles,
            "directions": {c: split_direction(c)[1] for c in channels},
            "wave_name": wave_name,
            "raw_note": note,
        })
        if not asylum:
            meta["roles_from_units"] = True  # no Asylum layer names: the role follows the wave's data unit
        call = classify_mode(meta, roles)
        meta["mode_evidence"] = call.evidence
        return Measurement(technique="afm", kind="afm_map", data=channels, units=units, meta=meta, mode=call.mode)

    @staticmethod
    def _asylum_layers(data: np.ndarray, labels: list[str]) -> tuple[dict, dict, dict]:
        channels: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        roles: dict[str, str] = {}
        for k, label in enumerate(labels[: data.shape[2]]):
            key = label or f"Layer{k}"
            if key in channels:
                key = f"{key}_{k}"
            # Igor stores x (fast axis) first: image rows are y (slow axis), columns x.
            channels[key] = np.ascontiguousarray(data[:, :, k].T)
            roles[key] = asylum_role(key)
            units[key] = ROLE_UNITS[roles[key]]
        return channels, units, roles

    @staticmethod
    def _single_image(values: np.ndarray, wave: Mapping[str, Any], wave_name: str) -> tuple[dict, dict, dict]:
        data_unit, _ = wave_units(wave)
        si = to_si(data_unit) if data_unit else ("1", 1.0)
        unit, factor = si if si is not None else (data_unit, 1.0)
        key = wave_name.strip() or "Layer0"
        image = np.ascontiguousarray(values.T, dtype=np.float64) * factor
        return {key: image}, {key: unit}, {key: _ROLE_OF_UNIT.get(unit, "other")}
