"""Writers of vendor files from the documented formats (demo generator and spec-built test files)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

_DATA_START = 40960  # NanoScope pads its header to a fixed block


def write_asylum_ibw(path: Path, channels: dict[str, np.ndarray], note: dict[str, Any], scan_size_m: float,
                     wave_name: str) -> None:
    """3-D float32 wave (x, y, layer) with layer labels and an Asylum-style note, as the Cypher saves."""
    from igorwriter import IgorWave

    labels = list(channels)
    stack = np.stack([np.asarray(channels[c], dtype=np.float32).T for c in labels], axis=2)
    wave = IgorWave(stack, name=wave_name)
    n = stack.shape[0]
    wave.set_dimscale("x", 0, scan_size_m / n, "m")
    wave.set_dimscale("y", 0, scan_size_m / n, "m")
    wave.set_datascale("m")  # Asylum: one unit for all layers
    for k, label in enumerate(labels):
        wave.set_dimlabel(2, k, label)
    wave.set_note("\r".join(f"{k}: {v}" for k, v in note.items()))
    with open(path, "wb") as fh:
        wave.save(fh)


def _fmt(x: float) -> str:
    return f"{x:.7g}"


def write_nanoscope(path: Path, layers: Sequence[dict[str, Any]], scan_size_um: float, sens: dict[str, tuple[float, str]],
                    header: dict[str, str] | None = None, version: str = "0x09400202") -> None:
    """A Nanoscope v9-style file: text header, then one int16/int32 block per layer.

    Each layer: name (Image Data), key, values (2-D, physical unit), sens (name of its soft scale),
    unit of the soft scale numerator, bytes (2 or 4), direction. Counts are chosen so the values
    span 90 % of the integer range; value = count * hard / 2**(8*bytes) * soft.
    """
    lines_out: list[str] = ["\\*File list", f"\\Version: {version}", "\\Date: 09:00:00 AM Mon May 04 2026",
                            f"\\Data length: {_DATA_START}"]
    for k, v in (header or {}).items():
        lines_out.append(f"\\{k}: {v}")
    lines_out += ["\\*Scanner list", "\\Scanner type: Dim 4000"]
    for name, (value, unit) in sens.items():
        lines_out.append(f"\\@Sens. {name}: V {value:.6f} {unit}".rstrip())
    blocks: list[bytes] = []
    offset = _DATA_START
    for layer in layers:
        values = np.asarray(layer["values"], dtype=np.float64)
        ny, nx = values.shape
        nbytes = int(layer.get("bytes", 2))
        soft = sens[layer["sens"]][0]
        peak = float(np.nanmax(np.abs(values))) or 1.0
        full = float(2 ** (8 * nbytes))
        # hard value (V) such that the peak uses 90 % of the positive half-range
        # plain decimals (NanoScope never writes exponents; pySPM's parser relies on that)
        hard = float(f"{peak / soft * full / (0.9 * full / 2):.6f}")
        counts = np.round(values / (hard / full * soft)).astype(f"<i{nbytes}")
        blob = counts.tobytes()
        lines_out += [
            "\\*Ciao image list", f"\\Data offset: {offset}", f"\\Data length: {len(blob)}",
            f"\\Bytes/pixel: {nbytes}", "\\Data type: AFM", "\\Frame direction: Up",
            f"\\Samps/line: {nx}", f"\\Number of lines: {ny}", "\\Aspect Ratio: 1:1",
            f"\\Scan Size: {_fmt(scan_size_um)} {_fmt(scan_size_um)} ~m",
            f"\\Line Direction: {layer.get('direction', 'Retrace')}",
            f"\\@2:Image Data: S [{layer['key']}] \"{layer['name']}\"",
            f"\\@2:Z scale: V [Sens. {layer['sens']}] ({hard / full:.12f} V/LSB) {hard:.6f} V",
            f"\\@2:Z offset: V [Sens. {layer['sens']}] ({hard / full:.12f} V/LSB) 0 V",
        ]
        blocks.append(blob)
        offset += len(blob)
    lines_out.append("\\*File list end")
    head = ("\r\n".join(lines_out) + "\r\n").encode("latin-1")
    if len(head) > _DATA_START:
        raise ValueError("Nanoscope header longer than its block")
    with open(path, "wb") as fh:
        fh.write(head + b"\0" * (_DATA_START - len(head)) + b"".join(blocks))
