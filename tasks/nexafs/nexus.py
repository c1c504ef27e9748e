"""NeXus NXxas files (HDF5): each NXentry whose ``definition`` is NXxas (or NXxas_*) is one scan.

Groups are found by NX_class, not by name (NXinstrument, its NXmonochromator — ``mono`` in real
files — NXsample, NXsource). Per the application definition: ``<NXmonochromator>/energy`` (eV
unless its ``units`` attribute says keV), ``instrument/incoming_beam/data`` (I0) and ``instrument/absorbed_beam/data``
(the sample signal), ``sample/name``. NXxas does not name the detection mode; we read it from
the absorbed_beam detector's ``mode`` field or attribute (TEY/FY), else ``reader_options.mode``.
Dark values, if recorded, are ``dark_current`` fields of the detector groups.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, MissingInformation, Reader, UnreadableFile
from tasks.formats.nexus_head import declares_xas
from tasks.nexafs.scan import build_scans


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray):
        return _text(v.ravel()[0]) if v.size else ""
    return str(v)


def nx_class(obj) -> str:
    return _text(obj.attrs.get("NX_class", ""))


def child(group, nx_cls: str, *names: str):
    """The child of ``group`` whose NX_class is ``nx_cls`` (the name is free in NeXus: a real NXxas
    file has its NXmonochromator at ``instrument/mono``); the conventional names when no child
    declares a class."""
    import h5py

    groups = [g for g in group.values() if isinstance(g, h5py.Group)]
    by_class = [g for g in groups if nx_class(g) == nx_cls]
    preferred = [g for g in by_class if g.name.rsplit("/", 1)[-1] in names]
    if preferred or by_class:
        return (preferred or by_class)[0]
    return next((group[n] for n in names if n in group and isinstance(group[n], h5py.Group)), None)


def xas_entries(fh) -> list[str]:
    """Top-level groups whose ``definition`` is an XAS application definition (NXxas, NXxas_...)."""
    import h5py

    return [k for k, g in fh.items() if isinstance(g, h5py.Group) and "definition" in g
            and _text(g["definition"][()]).startswith("NXxas")]


class NxxasReader(Reader):
    name = "nexafs-nxxas"
    version = "3"
    techniques = ("nexafs",)
    suffixes = (".nxs", ".h5", ".hdf5", ".nx5")
    formats = "NeXus/HDF5 with NXentry definition NXxas (or NXxas_*): monochromator energy, incoming and absorbed beam"
    detects_on = ("HDF5 signature and, in the first 64 KiB, 'NXxas' or the NXxas detector group names "
                  "incoming_beam and absorbed_beam")
    options_doc = {"mode": "detection mode (TEY, FY) when the absorbed_beam detector does not say",
                   "edge": "edge (e.g. 'Fe_K') when neither entry/edge (with entry/element) nor the energy range decides it",
                   "role": "sample / reference role when sample/role is absent"}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        return declares_xas(head)

    def read(self, path: Path, options: Mapping[str, Any]) -> list[Measurement]:
        import h5py

        out: list[Measurement] = []
        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise UnreadableFile(f"{path.name}: not a readable HDF5 file ({exc}); it may be truncated") from None
        with fh:
            entries = xas_entries(fh)
            if not entries:
                declared = sorted({_text(g["definition"][()]) for g in fh.values()
                                   if isinstance(g, h5py.Group) and "definition" in g})
                raise UnreadableFile(f"{path.name}: no NXentry with definition NXxas (definitions: {declared or 'none'})"
                                     f"; it is not an XAS NeXus file")
            for key in entries:
                out.extend(self._entry(fh[key], f"{path.name}:{key}", options, len(entries) > 1, key))
        return out

    def _entry(self, entry, source: str, options: Mapping[str, Any], several: bool, key: str) -> list[Measurement]:
        def get(group, p: str):
            return group[p] if group is not None and p in group else None

        inst = child(entry, "NXinstrument", "instrument")
        mono = child(inst, "NXmonochromator", "monochromator", "mono") if inst is not None else None
        energy_ds = get(mono, "energy")
        if energy_ds is None:
            raise UnreadableFile(f"{source}: no energy in an NXmonochromator of the NXinstrument (required by NXxas)")
        energy = np.asarray(energy_ds[()], dtype=float)
        if _text(energy_ds.attrs.get("units", "eV")).lower() == "kev":
            energy = energy * 1000.0
        incoming, absorbed = get(inst, "incoming_beam"), get(inst, "absorbed_beam")
        i0_ds, sig_ds = get(incoming, "data"), get(absorbed, "data")
        if sig_ds is None:
            raise UnreadableFile(f"{source}: instrument/absorbed_beam/data is missing (required by NXxas)")
        mode = None
        if "mode" in absorbed:
            mode = _text(absorbed["mode"][()])
        elif "mode" in absorbed.attrs:
            mode = _text(absorbed.attrs["mode"])
        mode = (mode or options.get("mode") or "").upper() or None
        if mode is None:
            raise MissingInformation(f"{source}: the absorbed_beam detector does not say whether it is TEY or FY; "
                                     f"add a 'mode' field to it or set reader_options.mode")

        def dark(group) -> float:
            ds = get(group, "dark_current")
            return float(np.asarray(ds[()]).ravel()[0]) if ds is not None else 0.0

        def unit(ds) -> str:
            return _text(ds.attrs.get("units", "counts")) if ds is not None else ""

        def text(group, p: str) -> str | None:
            ds = get(group, p)
            return _text(ds[()]) if ds is not None else None

        sample, source_grp = child(entry, "NXsample", "sample"), child(inst, "NXsource", "source")
        reference = get(inst, "reference")
        ref_ds = get(reference, "data")
        edge = text(entry, "edge")
        if edge and text(entry, "element") and edge.strip().upper().rstrip(",0123456789") in ("K", "L", "M", "N"):
            edge = f"{text(entry, 'element')} {edge}"  # edge holding only the level, element beside it
        meta = {"layout": "nxxas", "sample": text(sample, "name"), "edge": edge, "edge_configured": options.get("edge"),
                "role": text(sample, "role") or options.get("role"), "beamline": text(source_grp, "name"),
                "scan_id": key, "title": text(entry, "title"), "definition": text(entry, "definition")}
        ms = build_scans(source=source, energy_ev=energy, i0=None if i0_ds is None else i0_ds[()],
                         i0_unit=unit(i0_ds), yields={mode: (sig_ds[()], unit(sig_ds), dark(absorbed))},
                         dark_i0=dark(incoming),
                         ref=(ref_ds[()], unit(ref_ds), dark(reference)) if ref_ds is not None else None, meta=meta)
        if several:
            for m in ms:
                m.part = f"{key}:{m.mode.lower()}"
        return ms
