"""The installed version of socscope, from the package metadata (what pip and ``socscope --version`` say)."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def package_version() -> str:
    """The version pip installed; a source tree that is not installed says so rather than guessing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("socscope")
    except PackageNotFoundError:
        from foundation import __version__

        return f"{__version__} (not installed: version of the source tree)"
