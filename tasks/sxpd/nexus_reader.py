"""NeXus / HDF5 powder patterns from Diamond I11: GDA Mythen scans and DAWN processed results.

Layouts understood (h5py):
- GDA Mythen scan: ``/entry/xye/{tth, counts, error}`` (the summed, reduced pattern) with scan
  number, times and beamline under ``/entry/diamond_scan`` and ``/entry/instrument``;
- DAWN processing output: ``/processed/result/{2-theta, data}`` (one pattern per row of ``data``);
- any NXdata whose ``signal`` is 1-D (or n × 1-D) and whose axis is a 2θ in degrees.
Raw Mythen3 detector files (``/entry/data/data`` of frames × channels × counters, no angles) are
refused with the reason: their channel → 2θ calibration lives outside the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, MissingInformation, Reader, UnreadableFile
from tasks.formats.nexus_head import declares_powder, declares_xas, is_hdf5
from tasks.sxpd.pattern import HC_KEV_ANGSTROM, pattern_measurement

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: places where a wavelength (Å) or a photon energy (keV) may be stored
_WAVELENGTH_PATHS = ("entry/instrument/monochromator/wavelength", "entry/sample/beam/incident_wavelength",
                     "entry1/instrument/monochromator/wavelength", "entry/instrument/beam/incident_wavelength")
_ENERGY_PATHS = ("entry/instrument/monochromator/energy", "entry/sample/beam/incident_energy",
                 "entry1/instrument/monochromator/energy")


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _scalar(h5, path: str) -> Any:
    if path in h5:
        obj = h5[path]
        if hasattr(obj, "shape") and obj.size >= 1:
            value = obj[()]
            if isinstance(value, np.ndarray):
                value = value.reshape(-1)[0]
            return value
    return None


def _unit(h5, path: str) -> str:
    return _text(h5[path].attrs.get("units", b"")) if path in h5 else ""


def scan_meta(h5) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    pairs = {"scan_number": "entry/diamond_scan/entry_identifier", "start_time": "entry/diamond_scan/start_time",
             "end_time": "entry/diamond_scan/end_time", "experiment": "entry/experiment_identifier",
             "beamline": "entry/instrument/beamline", "scan_command": "entry/diamond_scan/scan_command",
             "sample": "entry/sample/name", "program": "entry/program_name",
             "processing_program": "processed/process/program", "processing_date": "processed/process/date",
             "origin_file": "processed/process/origin/path"}
    for key, path in pairs.items():
        value = _scalar(h5, path)
        if value is not None:
            meta[key] = value.item() if isinstance(value, np.generic) and not isinstance(value, np.bytes_) else _text(value)
    for path in _WAVELENGTH_PATHS:
        value = _scalar(h5, path)
        if value is not None:
            unit = _unit(h5, path).lower()
            meta["wavelength_angstrom"] = float(value) * (10.0 if unit in ("nm",) else 1.0)
            break
    else:
        for path in _ENERGY_PATHS:
            value = _scalar(h5, path)
            if value is not None and float(value) > 0:
                unit = _unit(h5, path).lower()
                kev = float(value) / (1000.0 if unit == "ev" else 1.0)
                meta["wavelength_angstrom"] = HC_KEV_ANGSTROM / kev
                break
    count_paths = [f"entry/instrument/{name}/count_time" for name in (h5["entry/instrument"] if "entry/instrument" in h5 else [])]
    counted = [h5[p][()] for p in count_paths if p in h5 and hasattr(h5[p], "shape")]
    if counted:
        meta["counting_time_s"] = float(np.sum(counted[0]))
    if "processed/process" in h5:
        steps = [k for k in h5["processed/process"] if k.isdigit()]
        meta["processing_steps"] = [_text(_scalar(h5, f"processed/process/{k}/name")) for k in sorted(steps, key=int)]
    return meta


def _default_nxdata(h5) -> tuple[str | None, str | None]:
    """(signal path, axis path) of the file's default NXdata, following the ``default`` attributes."""
    node, path = h5, ""
    for _ in range(3):
        default = node.attrs.get("default")
        if default is None:
            break
        path = f"{path}/{_text(default)}".lstrip("/")
        if path not in h5:
            return None, None
        node = h5[path]
    if not path or _text(node.attrs.get("NX_class", b"")) != "NXdata":
        return None, None
    signal = _text(node.attrs.get("signal", b""))
    axes = node.attrs.get("axes")
    axes = [_text(a) for a in np.atleast_1d(axes)] if axes is not None else []
    axis = next((a for a in reversed(axes) if a not in (".", "") and f"{path}/{a}" in h5
                 and "theta" in a.lower()), None)
    if not signal or f"{path}/{signal}" not in h5:
        return None, None
    return f"{path}/{signal}", (f"{path}/{axis}" if axis else None)


class NexusReader(Reader):
    name = "i11-nexus"
    version = "1"
    techniques = ("sxpd",)
    suffixes = (".nxs", ".nx5", ".h5", ".hdf5", ".hdf")
    formats = ("NeXus/HDF5 powder patterns: Diamond I11 GDA scans (Mythen, MAC; 2θ and counts in the "
               "entry), DAWN-processed area-detector patterns (processed/result); NXmonopd")
    detects_on = ("an HDF5 signature whose head does not declare an NXxas definition (a powder definition "
                  "next to it keeps the file here)")

    def sniff(self, head: bytes, name: str) -> bool:
        # Any HDF5 file, unless its head declares an X-ray absorption application definition (NXxas),
        # which belongs to the nexafs readers; a powder definition (NXmonopd) next to it keeps it here.
        if not is_hdf5(head):
            return False
        return declares_powder(head) or not declares_xas(head)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement | list[Measurement]:
        import h5py

        source = Path(path).name
        try:
            h5 = h5py.File(path, "r")
        except OSError as exc:
            raise UnreadableFile(f"{source}: HDF5 library cannot open it ({exc}); the file is truncated or "
                                 f"damaged — copy it again from the beamline") from None
        try:
            with h5:
                return self._read_open(h5, source)
        except (OSError, KeyError, RuntimeError) as exc:
            raise UnreadableFile(f"{source}: reading a dataset failed ({exc}); the file is truncated or "
                                 f"damaged — copy it again") from None

    def _read_open(self, h5, source: str) -> Measurement | list[Measurement]:
        meta = scan_meta(h5)
        if "entry/xye/tth" in h5 and "entry/xye/counts" in h5:
            meta.update(format="nexus-gda-xye", layout="/entry/xye")
            error = h5["entry/xye/error"][()] if "entry/xye/error" in h5 else None
            return pattern_measurement(h5["entry/xye/tth"][()], h5["entry/xye/counts"][()], error, meta, source)
        if "processed/result/2-theta" in h5 and "processed/result/data" in h5:
            meta.update(format="nexus-dawn", layout="/processed/result")
            return self._rows(h5["processed/result/2-theta"], h5["processed/result/data"][()], meta, source)
        signal, axis = _default_nxdata(h5)
        if signal and axis:
            meta.update(format="nexus-nxdata", layout=signal)
            return self._rows(h5[axis], h5[signal][()], meta, source)
        if "entry/data/data" in h5 and h5["entry/data/data"].ndim == 3:
            shape = " × ".join(str(n) for n in h5["entry/data/data"].shape)
            raise MissingInformation(
                f"{source}: raw Mythen3 detector frames ({shape}: frames × channels × counters) without 2θ "
                f"angles; the channel → 2θ calibration and flat field live outside this file, so it cannot "
                f"become a pattern — ingest the summed .nxs or .xye produced by the I11 reduction instead")
        raise UnreadableFile(f"{source}: no powder pattern in this NeXus file — looked for /entry/xye (tth, "
                             f"counts), /processed/result (2-theta, data) and a default NXdata with a 2θ axis; "
                             f"the layout is unknown or the data were never written")

    @staticmethod
    def _rows(axis_ds, data: np.ndarray, meta: dict[str, Any], source: str) -> Measurement | list[Measurement]:
        unit = _text(axis_ds.attrs.get("units", b"deg")).lower()
        if unit not in ("deg", "degree", "degrees", "°"):
            raise UnreadableFile(f"{source}: the 2θ axis is in {unit!r}, not degrees; convert it or add a reader "
                                 f"option for this unit")
        two_theta = axis_ds[()]
        rows = np.atleast_2d(data)
        if rows.ndim != 2 or rows.shape[-1] != two_theta.size:
            raise UnreadableFile(f"{source}: data of shape {data.shape} does not match a 2θ axis of "
                                 f"{two_theta.size} points")
        out = [pattern_measurement(two_theta, row, None, {**meta, "row": i}, source,
                                   part="" if len(rows) == 1 else f"row{i}") for i, row in enumerate(rows)]
        return out[0] if len(out) == 1 else out
