"""Gwyddion 1.x files (magic ``GWYO``), which gwyfile does not read.

Gwyddion 2's own loader (``modules/file/gwyfile.c``, ``gwy_container_deserialize_old``) documents the
difference from the ``GWYP`` format of the Gwyddion user guide ("Format of Gwyddion Files"): only the
top GwyContainer differs. It is ``GwyContainer\\0``, a uint32 byte size, then items of
(uint32 GType, NUL-terminated key, value) where the GType says how the value is stored. Objects
inside (GwyDataField, GwySIUnit...) are serialized as in GWYP: type name, uint32 size, components of
(name, one type character, data). All little-endian. Strings of Gwyddion 1 are Latin-1 ('µm').
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

MAGIC = b"GWYO"
#: GLib fundamental type ids (n << 2) used by Gwyddion 1 containers -> (struct format, size)
_GTYPES: dict[int, tuple[str, int]] = {20: ("<?", 1), 16: ("<B", 1), 24: ("<i", 4), 40: ("<q", 8), 60: ("<d", 8)}
_G_TYPE_STRING, _G_TYPE_OBJECT = 64, 80
_ATOMS = {"b": ("<?", 1), "c": ("<c", 1), "i": ("<i", 4), "q": ("<q", 8), "d": ("<d", 8)}
_ARRAYS = {"C": "u1", "I": "<i4", "Q": "<i8", "D": "<f8"}


class GwyFormatError(ValueError):
    """The bytes do not follow the GWYO/GWYP layout; the message says where."""


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.find(b"\0", pos)
    if end < 0:
        raise GwyFormatError(f"unterminated string at byte {pos}")
    raw = buf[pos:end]
    try:
        return raw.decode("utf-8"), end + 1
    except UnicodeDecodeError:
        return raw.decode("latin-1"), end + 1


def _unpack(fmt: str, size: int, buf: bytes, pos: int) -> tuple[Any, int]:
    if pos + size > len(buf):
        raise GwyFormatError(f"value at byte {pos} runs past the end of the data")
    return struct.unpack_from(fmt, buf, pos)[0], pos + size


def read_object(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """One GWYP-style serialized object at ``pos`` -> ({'__type__': name, component: value}, end)."""
    type_name, pos = _string(buf, pos)
    size, pos = _unpack("<I", 4, buf, pos)
    end = pos + size
    if end > len(buf):
        raise GwyFormatError(f"{type_name} of {size} bytes at byte {pos} runs past the end of the file")
    obj: dict[str, Any] = {"__type__": type_name}
    while pos < end:
        name, pos = _string(buf, pos)
        code, pos = chr(buf[pos]), pos + 1
        obj[name], pos = _component(code, buf, pos)
    return obj, end


def _component(code: str, buf: bytes, pos: int) -> tuple[Any, int]:
    if code in _ATOMS:
        return _unpack(*_ATOMS[code], buf, pos)
    if code == "s":
        return _string(buf, pos)
    if code == "o":
        return read_object(buf, pos)
    count, pos = _unpack("<I", 4, buf, pos)
    if code in _ARRAYS:
        dtype = np.dtype(_ARRAYS[code])
        if pos + count * dtype.itemsize > len(buf):
            raise GwyFormatError(f"array of {count} items at byte {pos} runs past the end of the file")
        return np.frombuffer(buf, dtype=dtype, count=count, offset=pos), pos + count * dtype.itemsize
    if code in ("S", "O"):
        items = []
        for _ in range(count):
            item, pos = _string(buf, pos) if code == "S" else read_object(buf, pos)
            items.append(item)
        return items, pos
    raise GwyFormatError(f"unknown component type {code!r} at byte {pos - 1}")


def read_gwyo(buf: bytes) -> dict[str, Any]:
    """The top container of a Gwyddion 1.x file as {key: value}; objects as in ``read_object``."""
    if buf[:4] != MAGIC:
        raise GwyFormatError("not a Gwyddion 1.x file (no GWYO magic)")
    type_name, pos = _string(buf, 4)
    if type_name != "GwyContainer":
        raise GwyFormatError(f"top object is {type_name!r}, not a GwyContainer")
    size, pos = _unpack("<I", 4, buf, pos)
    end = pos + size
    if end > len(buf):
        raise GwyFormatError(f"the file is truncated: a container announces {size} bytes but the file ends {end - len(buf)} bytes early")
    items: dict[str, Any] = {}
    while pos < end:
        gtype, pos = _unpack("<I", 4, buf, pos)
        key, pos = _string(buf, pos)
        if gtype == _G_TYPE_OBJECT:
            items[key], pos = read_object(buf, pos)
        elif gtype == _G_TYPE_STRING:
            items[key], pos = _string(buf, pos)
        elif gtype in _GTYPES:
            items[key], pos = _unpack(*_GTYPES[gtype], buf, pos)
        else:
            raise GwyFormatError(f"item {key!r} has GType {gtype}, which Gwyddion 1 containers do not hold")
    return items
