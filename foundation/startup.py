"""The cyclic garbage collector while a command starts: seldom, until the command has real work.

Starting a command builds objects that live as long as the process: modules, classes, pydantic models,
the plugins' declarations. Python's collector passes over them every 700 allocations and frees none;
those passes were ~0.07 s of a ~0.85 s `socscope run` that finds nothing new (bench/noop.py; the goal is
<= 5 % of a first run). ``starting`` makes the passes rare; ``work_begins`` moves everything built so
far out of the collector's sight (``gc.freeze``) and restores the collector as it was, so a run that
does work, a server or a watcher collects as Python always does.
"""
from __future__ import annotations

import gc

#: allocations between young-generation passes while starting (Python's default: 700)
STARTING_THRESHOLD = 100_000
_before: tuple[int, int, int] | None = None


def starting() -> None:
    """Collect seldom until ``work_begins`` (or the process ends)."""
    global _before
    if _before is None:
        _before = gc.get_threshold()
        gc.set_threshold(STARTING_THRESHOLD, *_before[1:])


def work_begins() -> None:
    """What was built while starting stays; the collector runs as before ``starting`` again."""
    global _before
    if _before is not None:
        gc.freeze()
        gc.set_threshold(*_before)
        _before = None
