"""Calls for a file worker (tasks/isolation.py) that set and read its environment, from one module so that
every call goes to the same pool (a pool is preloaded with the caller's module)."""
from __future__ import annotations

import os


def setenv_here(name: str, value: str) -> int:
    os.environ[name] = value  # what a library does on import (pandera sets SPARK_LOCAL_IP)
    return os.getpid()


def getenv_here(name: str) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get(name)
