"""A library imported only when a value of it is first used (for pandas on the no-op re-run).

A re-run with nothing new loads every technique plugin (its readers, tables and parameter model) but
reads no file and builds no frame; the readers' modules ``import pandas as pd`` at their top, and that
import was ~0.45 s of a ~1.2 s re-run (pandas also imports ``pyarrow.compute``). ``defer("pandas")``
puts a stand-in module in ``sys.modules``: an ``import pandas as pd`` statement binds the stand-in, and
the first attribute asked of it (``pd.DataFrame``, ``from pandas import ...``, a submodule import)
imports the real pandas, which from then on answers every attribute, the same objects.

The stdlib's ``importlib.util.LazyLoader`` does not serve here: the ``import`` statement itself reads
the module's ``__spec__`` and that loads it. The stand-in keeps its own ``__spec__`` (not initialising).

Only the command that may end without a frame installs it (`socscope run`/`demo`, before the no-op
check); when there is work, ``load`` imports the real library at once in the main thread, before any
worker thread could race to it.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_LOCK = threading.RLock()


class Deferred(types.ModuleType):
    """The stand-in of a library not imported yet; any attribute not set here imports it."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_real(self), attr)

    def __dir__(self) -> list[str]:
        return dir(_real(self))


def defer(name: str) -> types.ModuleType:
    """``sys.modules[name]`` if imported already, else a stand-in that imports it on first use."""
    with _LOCK:
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ModuleNotFoundError(f"no module named {name!r} to defer", name=name)
        stand_in = Deferred(name)
        stand_in.__spec__ = spec  # what the import statement reads: a module not initialising
        stand_in.__file__ = spec.origin
        stand_in.__loader__ = spec.loader
        stand_in.__package__ = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
        sys.modules[name] = stand_in
        return stand_in


def load(name: str) -> types.ModuleType:
    """The real module ``name`` (importing it now if only its stand-in is there)."""
    module = sys.modules.get(name)
    return _real(module) if isinstance(module, Deferred) else importlib.import_module(name)


def is_deferred(name: str) -> bool:
    """True while only the stand-in of ``name`` is imported (its own code has not run)."""
    return isinstance(sys.modules.get(name), Deferred) and "_real" not in vars(sys.modules[name])


def _real(stand_in: Deferred) -> types.ModuleType:
    real = vars(stand_in).get("_real")
    if real is not None:
        return real
    with _LOCK:
        real = vars(stand_in).get("_real")
        if real is None:
            name = stand_in.__name__
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            try:
                real = importlib.import_module(name)
            except BaseException:
                sys.modules.setdefault(name, stand_in)
                raise
            vars(stand_in).update(vars(real))  # its attributes found directly from now on, no lookup each time
            vars(stand_in)["_real"] = real
    return real
