"""Named fault points for the crash tests, and the one error a full or read-only disk becomes.

``fault_point("commit.manifest_replaced")`` marks a spot where a crash is worth testing. It does
nothing unless the process was started with

    SOCSCOPE_KILL_AT=<point>[:<nth>]     SIGKILL the run at the nth time a process passes <point> (1st by
                                         default): the process, and the run's first process if that is
                                         another (file workers inherit the setting; a crash kills the run)
    SOCSCOPE_PAUSE_AT=<point>:<seconds>  sleep there (to hold a run at a known spot in concurrency tests)
    SOCSCOPE_FAIL_AT=<point>:<errno>     raise OSError(errno) there, every time (a full or read-only disk)

They are read once at import (``arm`` reads them again); environment variables reach file workers; with neither set a call costs one global lookup and a comparison.
tests/hardening/test_kill_points.py lists the points and kills a campaign run at each of them.
"""
from __future__ import annotations

import errno
import os
import signal
import time


def _parse(value: str | None, default: float) -> tuple[str, float] | None:
    if not value:
        return None
    name, _, arg = value.partition(":")
    return name.strip(), float(arg) if arg.strip() else default


_KILL = _PAUSE = _FAIL = _ROOT = None
_ARMED = False
_passes: dict[str, int] = {}


def arm() -> None:
    """Read the SOCSCOPE_*_AT variables (done at import)."""
    global _KILL, _PAUSE, _FAIL, _ARMED, _ROOT
    _KILL = _parse(os.environ.get("SOCSCOPE_KILL_AT"), 1)
    _PAUSE = _parse(os.environ.get("SOCSCOPE_PAUSE_AT"), 5.0)
    _FAIL = _parse(os.environ.get("SOCSCOPE_FAIL_AT"), errno.ENOSPC)
    _ARMED = _KILL is not None or _PAUSE is not None or _FAIL is not None
    # the run's first armed process: its children (file workers) inherit this and kill it with themselves
    _ROOT = int(os.environ.setdefault("SOCSCOPE_KILL_ROOT", str(os.getpid()))) if _KILL else None
    _passes.clear()


arm()


def fault_point(name: str) -> None:
    """A crash-test hook (see the module doc): a no-op in normal runs."""
    if _ARMED:
        _fire(name)


def _fire(name: str) -> None:
    if _PAUSE is not None and _PAUSE[0] == name:
        time.sleep(_PAUSE[1])
    if _FAIL is not None and _FAIL[0] == name:
        code = int(_FAIL[1])
        raise OSError(code, os.strerror(code), f"(injected at {name})")
    if _KILL is not None and _KILL[0] == name:
        _passes[name] = _passes.get(name, 0) + 1
        if _passes[name] == int(_KILL[1]):
            if _ROOT is not None and _ROOT != os.getpid():
                try:
                    os.kill(_ROOT, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.kill(os.getpid(), signal.SIGKILL)


class RunInProgress(RuntimeError):
    """Another campaign run holds the warehouse's run lock (``Warehouse.run_lock``)."""


# ---------------------------------------------------------------------------------------- storage errors
#: errors that are about the storage, never about the file being read or the code
DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "the storage is read-only"}
#: ... and, where the failing call is certainly a write, a folder we may not write to
STORAGE_ERRNOS = {**DISK_ERRNOS, errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}
_WHAT_TO_DO = {errno.ENOSPC: "free space", errno.EDQUOT: "free space or raise the quota"}


class StorageError(RuntimeError):
    """A write the storage refused (full, over quota, read-only): the run stops, nothing is quarantined."""


def as_storage_error(exc: BaseException, writing: str, state: str) -> StorageError:
    """``exc`` (a ``StorageError`` or a disk's ``OSError``) as a ``StorageError``."""
    return exc if isinstance(exc, StorageError) else storage_error(exc, writing, state)


def is_storage_error(exc: BaseException) -> bool:
    """A refused warehouse write, or a full / read-only disk anywhere (a permission error while reading
    is the file's problem, not the storage's)."""
    return isinstance(exc, StorageError) or (isinstance(exc, OSError) and exc.errno in DISK_ERRNOS)


def storage_error(exc: OSError, writing: str, state: str) -> StorageError:
    """The message a user reads: what failed, where, what state the warehouse is in, what to do."""
    what = STORAGE_ERRNOS.get(exc.errno, exc.strerror or type(exc).__name__)
    todo = _WHAT_TO_DO.get(exc.errno, "make it writable")
    return StorageError(f"{what} while writing {writing}; {state}; {todo} and run again")


_STORAGE_LINE = "warehouse.faults.StorageError: "


def storage_error_in(worker_traceback: str | None) -> StorageError | None:
    """The ``StorageError`` a file worker ended with, from the traceback it sent back (a process
    boundary passes text), so that the run stops with its message instead of quarantining the file."""
    for line in reversed((worker_traceback or "").strip().splitlines()):
        if line.startswith(_STORAGE_LINE):
            return StorageError(line[len(_STORAGE_LINE):])
    return None
