"""NeXus NXxas files (HDF5): each NXentry whose ``definition`` is NXxas is one scan.

Per the application definition: ``instrument/monochromator/energy`` (eV unless its ``units``
attribute says keV), ``instrument/incoming_beam/data`` (I0) and ``instrument/absorbed_beam/data``
(the sample signal), ``sample/name``. NXxas does not name the detection mode; we read it from
the absorbed_beam detector's ``mode`` field or attribute (TEY/FY), else ``reader_options.mode``.
Dark values, if recorded, are ``dark_current`` fields of the detector groups.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tasks.contract import Measurement, MissingInformation, Reader, UnreadableFile
from tasks.nexafs.scan import build_scans

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray):
        return _text(v.ravel()[0]) if v.size else ""
    return str(v)


class NxxasReader(Reader):
    name = "nexafs-nxxas"
    version = "1"
    techniques = ("nexafs",)
    suffixes = (".nxs", ".h5", ".hdf5", ".nx5")

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(HDF5_SIGNATURE) and b"NXxas" in head

    def read(self, path: Path, options: Mapping[str, Any]) -> list[Measurement]:
        import h5py

        out: list[Measurement] = []
        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise UnreadableFile(f"{path.name}: not a readable HDF5 file ({exc}); it may be truncated") from None
        with fh:
            entries = [k for k, g in fh.items() if isinstance(g, h5py.Group)
                       and "definition" in g and _text(g["definition"][()]) == "NXxas"]
            if not entries:
                raise UnreadableFile(f"{path.name}: no NXentry with definition NXxas")
            for key in entries:
                out.extend(self._entry(fh[key], f"{path.name}:{key}", options, len(entries) > 1, key))
        return out

    def _entry(self, entry, source: str, options: Mapping[str, Any], several: bool, key: str) -> list[Measurement]:
        def get(p: str):
            return entry[p] if p in entry else None

        energy_ds = get("instrument/monochromator/energy")
        if energy_ds is None:
            raise UnreadableFile(f"{source}: instrument/monochromator/energy is missing (required by NXxas)")
        energy = np.asarray(energy_ds[()], dtype=float)
        if _text(energy_ds.attrs.get("units", "eV")).lower() == "kev":
            energy = energy * 1000.0
        i0_ds, sig_ds = get("instrument/incoming_beam/data"), get("instrument/absorbed_beam/data")
        if sig_ds is None:
            raise UnreadableFile(f"{source}: instrument/absorbed_beam/data is missing (required by NXxas)")
        det = entry["instrument/absorbed_beam"]
        mode = None
        if "mode" in det:
            mode = _text(det["mode"][()])
        elif "mode" in det.attrs:
            mode = _text(det.attrs["mode"])
        mode = (mode or options.get("mode") or "").upper() or None
        if mode is None:
            raise MissingInformation(f"{source}: the absorbed_beam detector does not say whether it is TEY or FY; "
                                     f"add a 'mode' field to it or set reader_options.mode")

        def dark(group: str) -> float:
            p = f"instrument/{group}/dark_current"
            return float(np.asarray(entry[p][()]).ravel()[0]) if p in entry else 0.0

        def unit(ds) -> str:
            return _text(ds.attrs.get("units", "counts")) if ds is not None else ""

        ref_ds = get("instrument/reference/data")
        meta = {"layout": "nxxas", "sample": _text(entry["sample/name"][()]) if "sample/name" in entry else None,
                "edge": _text(get("edge")[()]) if get("edge") is not None else None,
                "role": _text(get("sample/role")[()]) if get("sample/role") is not None else options.get("role"),
                "beamline": _text(get("instrument/source/name")[()]) if get("instrument/source/name") is not None else None,
                "scan_id": key, "title": _text(get("title")[()]) if get("title") is not None else None}
        ms = build_scans(source=source, energy_ev=energy, i0=None if i0_ds is None else i0_ds[()],
                         i0_unit=unit(i0_ds), yields={mode: (sig_ds[()], unit(sig_ds), dark("absorbed_beam"))},
                         dark_i0=dark("incoming_beam"),
                         ref=(ref_ds[()], unit(ref_ds), dark("reference")) if ref_ds is not None else None, meta=meta)
        if several:
            for m in ms:
                m.part = f"{key}:{m.mode.lower()}"
        return ms
