"""Canonical XAS measurements shared by every reader, and the checks every scan must pass.

Two kinds:
- ``xas_scan``: raw detector channels of one detection mode (data: energy_ev, i0, signal, and
  optionally ref), dark values in ``meta`` in the channel's own unit. One file holding TEY and FY
  gives two of them (``part``/``mode`` = tey/TEY and fy/FY).
- ``xas_spectrum``: an already reduced spectrum (data: energy_ev, mu), e.g. a normalised XANES.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, UnreadableFile
from tasks.nexafs.edges import resolve_edge

TECHNIQUE = "nexafs"

def with_edge(meta: dict[str, Any], energy: np.ndarray, mu: np.ndarray | None) -> dict[str, Any]:
    """``meta`` with ``edge``, ``element``, ``edge_source`` and ``edge_energy_ev`` decided (see
    tasks.nexafs.edges): ``meta['edge']`` is what the file's header says, ``meta['edge_configured']``
    the share's reader_options.edge; how it was decided, when not by the file, goes to ``meta['flags']``."""
    edge = resolve_edge(meta.get("edge"), energy, mu, meta.get("edge_configured"))
    out = dict(meta, edge=edge.name, element=edge.element, edge_level=edge.level, edge_source=edge.source)
    out["edge_energy_ev"] = meta.get("edge_energy_ev") or edge.energy_ev
    out["flags"] = list(meta.get("flags") or []) + edge.flags
    return out


def checked_energy(energy: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Energy axis that rises strictly, and the row order that makes it so.

    A scan recorded downwards is reversed; a scan that goes back and forth (non-monotonic) cannot
    be put on one axis without choosing between repeated points, so it is rejected.
    """
    energy = np.asarray(energy, dtype=float)
    if energy.size < 5:
        raise UnreadableFile(f"{source}: only {energy.size} data rows; a scan needs at least 5 points")
    if not np.all(np.isfinite(energy)):
        bad = int(np.argmax(~np.isfinite(energy)))
        raise UnreadableFile(f"{source}: the energy column holds a non-number at data row {bad + 1}")
    order = np.arange(energy.size)
    d = np.diff(energy)
    if np.all(d < 0):
        order = order[::-1]
        d = -d[::-1]
        energy = energy[::-1]
    if not np.all(d > 0):
        i = int(np.argmax(d <= 0)) + 1
        raise UnreadableFile(
            f"{source}: the energy axis is not monotonic: row {i + 1} is {energy[i]:.3f} eV after "
            f"{energy[i - 1]:.3f} eV; split the back-and-forth scan into separate files or re-export it")
    return energy, order


def require_channel(values: np.ndarray | None, name: str, source: str) -> np.ndarray:
    if values is None:
        raise UnreadableFile(f"{source}: no {name} column; the incident flux is needed to normalise the "
                             f"scan — map it in the share's reader_options (columns: {{i0: ...}})")
    arr = np.asarray(values, dtype=float)
    if not np.any(np.isfinite(arr) & (arr != 0)):
        raise UnreadableFile(f"{source}: the {name} channel is all zero (detector off or not connected); "
                             f"the scan cannot be normalised")
    return arr


def dead_channel_reason(values: np.ndarray, dark: float) -> str | None:
    """Why a yield channel carries no usable signal, or None if it does."""
    arr = np.asarray(values, dtype=float)
    if not np.any(np.isfinite(arr) & (arr != 0)):
        return "all zero"
    if np.nanmax(arr) <= dark:
        return f"never above its dark level {dark:g} (max {np.nanmax(arr):g})"
    return None


def build_scans(*, source: str, energy_ev: np.ndarray, i0: np.ndarray, i0_unit: str,
                yields: Mapping[str, tuple[np.ndarray, str, float]], dark_i0: float,
                ref: tuple[np.ndarray, str, float] | None, meta: dict[str, Any]) -> list[Measurement]:
    """One ``xas_scan`` per live yield channel (``yields``: mode -> (values, unit, dark)).

    Dead channels are dropped with their reason in ``meta['dropped_channels']``; a file with no
    live yield channel at all is unreadable.
    """
    energy, order = checked_energy(energy_ev, source)
    i0 = require_channel(i0, "I0", source)[order]
    dropped: dict[str, str] = {}
    live: dict[str, tuple[np.ndarray, str, float]] = {}
    for mode, (values, unit, dark) in yields.items():
        reason = dead_channel_reason(values, dark)
        if reason:
            dropped[mode] = reason
        else:
            live[mode] = (np.asarray(values, dtype=float)[order], unit, dark)
    if not live:
        detail = "; ".join(f"{m}: {r}" for m, r in dropped.items()) or "no yield column found"
        raise UnreadableFile(f"{source}: no yield channel carries signal ({detail}); check the detector "
                             f"mapping in reader_options or the detectors at the beamline")
    mu = None
    if not meta.get("edge"):  # only a scan that does not name its edge needs mu to find it
        first = next(iter(live.values()))
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = (first[0] - first[2]) / (i0 - dark_i0)
    meta = with_edge(meta, energy, mu)
    meta["dropped_channels"] = dropped
    meta["dark_i0"] = float(dark_i0)
    out = []
    for mode, (values, unit, dark) in live.items():
        data = {"energy_ev": energy, "i0": i0, "signal": values}
        units = {"energy_ev": "eV", "i0": i0_unit, "signal": unit}
        m_meta = dict(meta, dark_signal=float(dark))
        if ref is not None:
            data["ref"] = np.asarray(ref[0], dtype=float)[order]
            units["ref"] = ref[1]
            m_meta["dark_ref"] = float(ref[2])
        out.append(Measurement(technique=TECHNIQUE, kind="xas_scan", data=data, units=units, meta=m_meta,
                               mode=mode, part=mode.lower() if len(live) > 1 else ""))
    return out


def build_spectrum(*, source: str, energy_ev: np.ndarray, mu: np.ndarray, mode: str | None,
                   meta: dict[str, Any]) -> Measurement:
    energy, order = checked_energy(energy_ev, source)
    mu = np.asarray(mu, dtype=float)[order]
    if not np.any(np.isfinite(mu) & (mu != 0)):
        raise UnreadableFile(f"{source}: the absorption column is all zero or empty")
    meta = with_edge(meta, energy, mu)
    return Measurement(technique=TECHNIQUE, kind="xas_spectrum", data={"energy_ev": energy, "mu": mu},
                       units={"energy_ev": "eV", "mu": "1"}, meta=meta, mode=mode)


def text_of(path: Path) -> str:
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def split_header(text: str) -> tuple[list[str], str]:
    """Leading ``#`` lines and the rest of the text (the data block), without splitting the data."""
    lines, pos = [], 0
    while pos < len(text) and text[pos] in "#\r\n":
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end + 1
        line = text[pos:end].rstrip("\r\n")
        if line:
            lines.append(line)
        pos = end
    return lines, text[pos:]


def numeric_body(body: str, source: str, min_columns: int = 2) -> np.ndarray:
    """The data block (numbers separated by whitespace, one row per line) as a 2-D array."""
    first = body.lstrip("\r\n").split("\n", 1)[0]
    ncol = len(first.split())
    if not first.strip():
        raise UnreadableFile(f"{source}: the header is there but no data rows follow (empty or truncated scan)")
    try:
        flat = np.array(body.split(), dtype=float)
    except ValueError as exc:
        raise UnreadableFile(f"{source}: a data row holds text where a number belongs ({exc})") from None
    if ncol < min_columns or flat.size % ncol:
        lengths = sorted({len(b.split()) for b in body.splitlines() if b.strip()})
        raise UnreadableFile(f"{source}: data rows have differing numbers of columns {lengths}; "
                             f"the file is truncated or corrupted")
    return flat.reshape(-1, ncol)


def numeric_block(lines: list[str], source: str, min_columns: int = 2) -> np.ndarray:
    """Rows of numbers among ``lines`` (comment lines skipped) into a 2-D array."""
    body = "\n".join(ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#"))
    return numeric_body(body, source, min_columns)
