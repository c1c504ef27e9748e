"""Progress of a run's stages (intake, each technique's files, marts), for whoever watches.

A stage reports ``(label, done, total, current)``: ``current`` names the item just finished (a file,
a mart), so a person sees what is moving. The stages do not know who watches: the CLI's progress bar
listens in this process (``listening``), a Prefect flow adds a progress artifact, tests pass nothing.
Listeners are process-wide rather than passed down, because a flow runs its stages as Prefect tasks
and subflows in the same process, where no argument reaches from the command line.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def __call__(self, label: str, done: int, total: int, current: str = "") -> None: ...


def no_progress(label: str, done: int, total: int, current: str = "") -> None:
    return None


_listeners: list[Progress] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: Progress) -> Iterator[None]:
    """Send every stage's progress in this process to ``listener`` while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def announce(label: str, done: int, total: int, current: str = "") -> None:
    """Tell every listener of this process; a listener that fails must not stop the run."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(label, done, total, current)
        except Exception:  # noqa: BLE001 - a broken progress display is no reason to lose a run
            pass
