"""Asylum Research Igor binary wave (.ibw) images: Cypher/MFP-3D PFM, DART-ESM and ORCA C-AFM.

igor2 reads the wave and its note. Two Asylum quirks are handled here:
- channel labels are 32-byte fields in which Asylum leaves stale bytes after the NUL
  ('PhaseRetrace\\0race'); igor2 joins them after dropping NULs, so the raw label block is
  re-read and each field cut at its first NUL;
- the wave stores ONE unit for all layers, so each channel's unit follows its name
  (``channels.ROLE_UNITS``); phase is degrees, currents amperes, frequencies hertz.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tasks.afm.asylum_note import parse_note, typed_metadata
from tasks.afm.channels import ROLE_UNITS, asylum_role, mode_from_roles, split_direction
from tasks.contract import Measurement, Reader, UnreadableFile

_V5_HEADER = 64 + 320  # BinHeader5 + WaveHeader5
_LABEL_BYTES = 32


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


def layer_labels(raw: bytes, bin_header: Mapping[str, Any], dim: int) -> list[str]:
    """Labels of one dimension, each 32-byte field cut at its first NUL (index 0 = the dimension)."""
    offset = (64 + int(bin_header["wfmSize"]) + int(bin_header["formulaSize"]) + int(bin_header["noteSize"])
              + int(bin_header["dataEUnitsSize"]) + int(np.sum(bin_header["dimEUnitsSize"])))
    sizes = [int(s) for s in bin_header["dimLabelsSize"]]
    offset += sum(sizes[:dim])
    block = raw[offset: offset + sizes[dim]]
    fields = [block[i: i + _LABEL_BYTES] for i in range(0, len(block), _LABEL_BYTES)]
    return [f.split(b"\0", 1)[0].decode("latin-1") for f in fields]


class AsylumIbwReader(Reader):
    name = "asylum-ibw"
    version = "1.0"
    techniques = ("afm",)
    suffixes = (".ibw",)

    def sniff(self, head: bytes, name: str) -> bool:
        # Igor v5 files: version 5 and a zero 16-bit checksum over the two headers.
        endian = _endian(head)
        return endian is not None and _checksum_ok(head, _V5_HEADER, endian)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        from igor2 import binarywave

        raw = Path(path).read_bytes()
        if _endian(raw) is None:
            raise UnreadableFile(f"{Path(path).name} is not an Igor binary wave version 5 (Asylum saves v5); "
                                 "re-save the image from the Asylum software")
        try:
            wave = binarywave.load(str(path))["wave"]
        except Exception as exc:  # igor2 raises bare struct/ValueErrors on damage
            raise UnreadableFile(f"igor2 cannot parse {Path(path).name}: {exc}; the file is damaged or truncated "
                                 "(compare its size with the original on the instrument PC)") from None
        data = np.asarray(wave["wData"])
        note_text = wave["note"].decode("latin-1", errors="replace")
        note = parse_note(note_text)
        shape = tuple(int(n) for n in wave["wave_header"]["nDim"] if n > 0)
        # A force curve is a 2-D wave whose columns are channels (labels on dimension 1: Raw, Defl, ZSnsr).
        column_labels = [lab for lab in layer_labels(raw, wave["bin_header"], 1)[1:] if lab]
        if len(shape) < 2 or min(shape[:2]) < 2 or (len(shape) == 2 and column_labels):
            labels = column_labels or [lab for lab in layer_labels(raw, wave["bin_header"], 0)[1:] if lab]
            raise UnreadableFile(
                f"{Path(path).name} is an Asylum force curve (wave of shape {shape}, channels {labels}), not an "
                "image: the AFM map pipeline does not take force spectroscopy; keep it out of the share pattern "
                "or route it to a force-curve reader")
        if data.ndim == 2:
            data = data[:, :, None]
        labels = layer_labels(raw, wave["bin_header"], 2)[1:] if data.ndim == 3 else []
        if len(labels) < data.shape[2]:
            labels += [f"Layer{i}" for i in range(len(labels), data.shape[2])]
        meta = typed_metadata(note)
        fast = meta["fast_scan_size_m"] or meta["scan_size_m"]
        slow = meta["slow_scan_size_m"] or meta["scan_size_m"]
        if not fast or not slow:
            # Without the note the wave scaling (sfA, metres per point) still gives the size.
            sfa = wave["wave_header"]["sfA"]
            fast, slow = float(sfa[0]) * data.shape[0], float(sfa[1]) * data.shape[1]
        channels: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        roles: dict[str, str] = {}
        directions: dict[str, str] = {}
        for k, label in enumerate(labels[: data.shape[2]]):
            key = label or f"Layer{k}"
            if key in channels:
                key = f"{key}_{k}"
            # Igor stores x (fast axis) first: image rows are y (slow axis), columns x.
            channels[key] = np.ascontiguousarray(data[:, :, k].T)
            roles[key] = asylum_role(key)
            directions[key] = split_direction(key)[1]
            units[key] = ROLE_UNITS[roles[key]]
        meta.update({
            "vendor": "asylum",
            "scan_size_x_m": float(fast),
            "scan_size_y_m": float(slow),
            "roles": roles,
            "directions": directions,
            "wave_name": wave["wave_header"]["bname"].decode("latin-1", errors="replace"),
            "raw_note": note,
        })
        return Measurement(technique="afm", kind="afm_map", data=channels, units=units, meta=meta,
                           mode=mode_from_roles(roles, meta["imaging_mode"]))
