"""AFM maps as Gwyddion ``.gwy`` (written by gwyfile) and as NetCDF-4 (xarray, h5netcdf engine).

Gwyddion: one data field per channel (``/N/data`` with its title at ``/N/data/title``), lateral size
in metres (``xreal``/``yreal``, ``si_unit_xy`` m) and each channel's SI unit as ``si_unit_z``; a
dimensionless channel ("1") gets Gwyddion's empty unit. The reader's header goes along as the
container's ``/N/meta`` of the first field (Gwyddion's metadata browser shows it).

NetCDF: ``Measurement.to_dataset()``: one variable per channel with ``units`` and ``long_name``
(the channel's own name; variable names keep letters, digits and ``_``), ``x``/``y`` coordinates in
metres at pixel centres, the header as global attributes.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def _need_map(m: Any, what: str) -> None:
    if not m.is_map:
        raise TypeError(f"{what} is for maps (channels of 2-D arrays); {m.path.name} is a {m.kind}")


def _extent(m: Any) -> tuple[float, float]:
    """Scan size (m) of a map; a map without one has no physical size to write."""
    size_x, size_y = m.meta.get("scan_size_x_m"), m.meta.get("scan_size_y_m")
    if not size_x or not size_y:
        raise ValueError(f"{m.path.name} has no scan size in metres, so a .gwy would lie about its size")
    return float(size_x), float(size_y)


def write_gwy(m: Any, path: Path) -> Path:
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    _need_map(m, ".gwy")
    xreal, yreal = _extent(m)
    container = GwyContainer()
    for i, name in enumerate(m.data.channel.values):
        unit = m.units.get(str(name), "")
        z_unit = "" if unit in ("1", "Arb") else unit
        field = GwyDataField(m.data.sel(channel=name).values.astype("float64"), xreal=xreal, yreal=yreal,
                             si_unit_xy=GwySIUnit(unitstr="m"), si_unit_z=GwySIUnit(unitstr=z_unit))
        container[f"/{i}/data"] = field
        container[f"/{i}/data/title"] = str(name)
    meta = {k: str(v) for k, v in m.meta.items() if v is not None}
    meta.update({"socscope reader": str(m.reader), "source file": m.path.name, "source sha256": m.sha256})
    container["/0/meta"] = GwyContainer(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    container.tofile(str(path))
    return path


def variable_name(channel: str) -> str:
    """A NetCDF variable name for a channel: letters, digits and ``_`` ("Height Sensor trace" -> Height_Sensor_trace)."""
    name = re.sub(r"\W+", "_", channel).strip("_") or "channel"
    return name if not name[0].isdigit() else f"c_{name}"


def write_netcdf(m: Any, path: Path) -> Path:
    _need_map(m, "NetCDF")
    ds = m.to_dataset()
    names: dict[str, str] = {}
    for name in ds.data_vars:  # two channels that differ only in punctuation keep apart
        base = variable_name(str(name))
        names[str(name)] = base if base not in names.values() else f"{base}_{len(names)}"
    ds = ds.rename(names)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, engine="h5netcdf")
    return path
