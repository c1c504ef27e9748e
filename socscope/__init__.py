"""socscope: a cross-technique warehouse for cathode characterisation across states of charge.

The Python API (imported lazily, so that ``import socscope`` stays cheap):

- ``socscope.read(path, technique=None, **options)`` -> ``socscope.measurement.Measurement``: one
  instrument file read by the readers a campaign run uses (``.data``, ``.meta``, ``.units``,
  ``.reader``, ``.to_xye()``/``.to_xdi()``/``.to_bdf()``/``.to_gwy()``/``.to_netcdf()``);
  ``socscope.read_all(path)`` for files with several measurements.
- ``socscope.open(warehouse_or_config)`` -> ``socscope.client.Client``: read-only access to a
  warehouse (``.tables()``, ``.table()``, ``.sql()``, ``.lineage()``, ``.findings()``, ``.status()``,
  ``.export_package()``).
"""
from __future__ import annotations

from typing import Any

# ``open`` is left out of __all__: ``from socscope import *`` must not hide the builtin open()
__all__ = ["__version__", "read", "read_all", "Measurement", "Client"]

_LAZY = {"read": "socscope.measurement", "read_all": "socscope.measurement", "Measurement": "socscope.measurement",
         "MultipleMeasurements": "socscope.measurement", "open": "socscope.client", "Client": "socscope.client"}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from socscope.version import package_version

        return package_version()
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'socscope' has no attribute {name!r}")
