"""Calls for a file worker (tasks/isolation.py): its environment, its family, its end, from one module so that
every call goes to the same pool (a pool is preloaded with the caller's module)."""
from __future__ import annotations

import os


def setenv_here(name: str, value: str) -> int:
    os.environ[name] = value  # what a library does on import (pandera sets SPARK_LOCAL_IP)
    return os.getpid()


def getenv_here(name: str) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get(name)


def family_here(module: str) -> tuple[int, int, bool]:
    """(this worker's pid, its parent's, whether ``module`` was imported before this call)."""
    import sys

    return os.getpid(), os.getppid(), module in sys.modules


def end_here(code: int) -> None:
    os._exit(code)  # a worker that dies in the middle of a file


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc), zombies included."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def sleep_here(seconds: float) -> None:
    import time

    time.sleep(seconds)


def import_here(module: str) -> tuple[int, str]:
    """(this worker's pid, the file ``module`` was imported from here)."""
    import importlib

    return os.getpid(), importlib.import_module(module).__file__
