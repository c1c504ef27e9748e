"""``socscope.read``: one instrument file, read by the readers the pipeline uses, as pandas/xarray.

Detection and reading go through ``foundation.registry`` exactly as in a campaign run (content decides
the reader; the suffix only breaks ties; a ``reader=`` name wins outright, as a share's override does),
so a file reads the same here as in the warehouse — without a campaign, a warehouse or Prefect.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from foundation.contract import Measurement as RawMeasurement


class MultipleMeasurements(ValueError):
    """The file holds several measurements (e.g. TEY and PEY of one scan) and no ``part`` was named."""


@dataclass(frozen=True)
class ReaderInfo:
    """The reader that read the file: its name and version, as the warehouse's ``reader`` column has them."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class Measurement:
    """One measurement of one file: ``data`` (pandas, or xarray for maps), ``meta``, ``units``, ``reader``.

    Series and spectra (cycler records, XAS scans, diffraction patterns) are a ``pandas.DataFrame``
    with one column per quantity, units in ``units`` and in ``data.attrs["units"]``. Maps are an
    ``xarray.DataArray`` with dims ``(channel, y, x)``: ``x``/``y`` coordinates in metres (pixel
    centres), a ``unit`` coordinate along ``channel`` and ``attrs["units"]`` (channel -> unit);
    ``channel(name)`` gives one 2-D map with its ``units`` attribute, ``to_dataset()`` all of them.
    """

    def __init__(self, raw: "RawMeasurement", reader: ReaderInfo, path: Path):
        self._raw = raw
        self.reader = reader
        self.path = path
        self.technique: str = raw.technique
        self.kind: str = raw.kind
        self.mode: str | None = raw.mode
        self.part: str = raw.part
        self.meta: dict[str, Any] = dict(raw.meta)
        self.units: dict[str, str] = dict(raw.units)
        self.sha256: str = raw.provenance.raw_sha256 if raw.provenance else ""
        self.data: "pd.DataFrame | xr.DataArray" = _as_data(raw)
        if self.is_map:  # metres from the scan size; "px" when the file gave none
            self.units.update({dim: self.data[dim].attrs["units"] for dim in ("x", "y")})

    @property
    def is_map(self) -> bool:
        """Whether ``data`` is a map (channels of 2-D arrays, as ``afm_map``), an ``xarray.DataArray``."""
        return hasattr(self.data, "dims")

    def __repr__(self) -> str:
        shape = getattr(self.data, "shape", None)
        return (f"<socscope.Measurement {self.technique}/{self.kind} mode={self.mode!r} part={self.part!r} "
                f"shape={shape} reader={self.reader} file={self.path.name!r}>")

    # -------------------------------------------------------------------------------------- maps
    def channel(self, name: str) -> "xr.DataArray":
        """One channel of a map as a 2-D DataArray (dims y, x; ``attrs['units']``)."""
        self._need_map("channel()")
        name = str(name)
        da = self.data.sel(channel=name).drop_vars(["channel", "unit"])
        da.attrs = {"units": self.units[name], "long_name": name}
        return da.rename(name)

    def to_dataset(self) -> "xr.Dataset":
        """A map as an ``xarray.Dataset``: one variable per channel, each with its ``units``."""
        import xarray as xr

        self._need_map("to_dataset()")
        ds = xr.Dataset({str(name): self.channel(str(name)) for name in self.data.channel.values})
        ds.attrs.update(_scalar_attrs(self.meta) | {"socscope_reader": str(self.reader), "source_file": self.path.name,
                                                    "source_sha256": self.sha256})
        return ds

    def _need_map(self, what: str) -> None:
        if not self.is_map:
            raise TypeError(f"{what} is for maps (channels of 2-D arrays); this is a {self.kind}")

    # ----------------------------------------------------------------------------------- exports
    def to_xye(self, path: str | Path, header: bool = True) -> Path:
        """A diffraction pattern as ``.xye`` (2θ in degrees, intensity, σ; ``#`` lines saying its source
        unless ``header=False``), see ``socscope.exports.xye``."""
        from socscope.exports import xye

        return xye.write_measurement(self, Path(path), header)

    def to_xdi(self, path: str | Path, element: str | None = None, edge: str | None = None) -> Path:
        """An XAS spectrum or scan as XDI 1.0 (``element``/``edge`` when the file does not say them),
        see ``socscope.exports.xdi``."""
        from socscope.exports import xdi

        return xdi.write_measurement(self, Path(path), element, edge)

    def to_bdf(self, path: str | Path, format: str | None = None, names: str = "label") -> Path:
        """A cycler record in the Battery Data Format (CSV or Parquet by suffix or ``format``; header of
        preferred labels, or machine-readable names with ``names="machine"``), see ``socscope.exports.bdf``."""
        from socscope.exports import bdf

        return bdf.write_measurement(self, Path(path), format, names)

    def to_gwy(self, path: str | Path) -> Path:
        """A map as a Gwyddion ``.gwy`` file (one data field per channel, SI units)."""
        from socscope.exports import maps

        return maps.write_gwy(self, Path(path))

    def to_netcdf(self, path: str | Path) -> Path:
        """A map as NetCDF-4 (``to_dataset()`` written by xarray with the h5netcdf engine)."""
        from socscope.exports import maps

        return maps.write_netcdf(self, Path(path))


def _as_data(raw: "RawMeasurement") -> Any:
    import numpy as np
    import pandas as pd

    data = raw.data
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
    elif isinstance(data, dict) and data and all(np.ndim(v) == 2 for v in data.values()):
        return _map_array(raw)
    elif isinstance(data, dict):
        frame = pd.DataFrame({k: np.asarray(v) for k, v in data.items()})
    else:
        raise TypeError(f"{raw.technique} reader gave {type(data).__name__} data of kind {raw.kind!r}, which "
                        "socscope.read cannot show as a table or an array")
    frame.attrs["units"] = {c: raw.units.get(c, "") for c in frame.columns}
    return frame


def _map_array(raw: "RawMeasurement") -> "xr.DataArray":
    """Channels stacked (channel, y, x); x and y at pixel centres from the scan size (metres)."""
    import numpy as np
    import xarray as xr

    names = list(raw.data)
    stack = np.stack([np.asarray(raw.data[n], dtype=float) for n in names])
    ny, nx = stack.shape[1:]
    coords: dict[str, Any] = {"channel": names, "unit": ("channel", [raw.units.get(n, "") for n in names])}
    for dim, n, key in (("x", nx, "scan_size_x_m"), ("y", ny, "scan_size_y_m")):
        size = raw.meta.get(key)
        step = float(size) / n if size else 1.0
        coords[dim] = xr.Variable(dim, (np.arange(n) + 0.5) * step,
                                  {"units": "m" if size else "px", "long_name": f"{dim} (pixel centre)"})
    return xr.DataArray(stack, dims=("channel", "y", "x"), coords=coords, name=raw.kind,
                        attrs={"units": {n: raw.units.get(n, "") for n in names}})


def _scalar_attrs(meta: dict[str, Any]) -> dict[str, Any]:
    """Header values that NetCDF can hold as attributes (numbers and text; others as their text)."""
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if v is None:
            continue
        out[str(k)] = v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else str(v)
    return out


def read_all(path: str | Path, technique: str | None = None, *, reader: str | None = None,
             **options: Any) -> list[Measurement]:
    """Every measurement of one file (most files hold one; a beamline scan may hold TEY and PEY).

    ``technique`` narrows detection to one technique's readers; ``reader`` names a reader outright
    (``socscope readers`` lists them); ``options`` are the share ``reader_options`` of that reader
    (e.g. ``timezone="Europe/Berlin"``). Raises ``foundation.contract.UnreadableFile`` with the reason the
    pipeline would quarantine the file for.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file {path}")
    with _as_raw_file(path) as (raw, digest):
        found, measurements = _registry().read_measurements(raw, digest, path.name, technique_name=technique,
                                                            override=reader, options=options)
    info = ReaderInfo(found.name, str(found.version))
    return [Measurement(m, info, path) for m in measurements]


def _registry():
    from foundation import registry

    return registry


def read(path: str | Path, technique: str | None = None, *, part: str | None = None, reader: str | None = None,
         **options: Any) -> Measurement:
    """One measurement of one file, read as in a campaign run (see ``read_all`` for the arguments).

    A file with several measurements needs ``part=`` (their names are in the error), or ``read_all``.
    """
    found = read_all(path, technique, reader=reader, **options)
    if part is not None:
        chosen = [m for m in found if m.part == part]
        if not chosen:
            raise KeyError(f"{Path(path).name} has no part {part!r}; its parts: {[m.part for m in found]}")
        return chosen[0]
    if len(found) > 1:
        raise MultipleMeasurements(
            f"{Path(path).name} holds {len(found)} measurements (parts {[m.part for m in found]}, modes "
            f"{[m.mode for m in found]}): name one with socscope.read(path, part=...), or use socscope.read_all(path)")
    return found[0]


@contextmanager
def _as_raw_file(path: Path) -> Iterator[tuple[Path, str]]:
    """The file as the raw store holds it, and its sha256: a folder taken whole (Toyo TOSCAT) becomes the
    same deterministic ZIP intake makes of it (``tasks.intake.bundle_zip``), so readers see what they see
    in a run."""
    if not path.is_dir():
        yield path, _sha256(path)
        return
    import fsspec

    from tasks.intake import bundle_zip

    with tempfile.TemporaryDirectory(prefix="socscope-read-") as tmp:
        bundle = Path(tmp) / f"{path.name}.zip"
        with open(bundle, "wb") as out:
            bundle_zip(fsspec.filesystem("file"), str(path.resolve()), out)
        yield bundle, _sha256(bundle)


def _sha256(path: Path) -> str:
    """As intake and ``socscope verify`` hash raw files (one function for all three)."""
    import fsspec

    from warehouse.verify import sha256_of

    return sha256_of(fsspec.filesystem("file"), str(path))
