"""Techniques side by side: each technique's work (its pending files, batches, commits and finalize)
in a thread of its own, started as soon as the techniques it comes ``after`` have finished; its finalize
waits for those it comes ``finalize_after`` too, while its files run beside theirs.

One technique after another left the file workers idle through every commit, pending-work query
and finalize (the AFM maps' pairing alone took seconds), and through the tail of each phase, when
one batch was left and the other task slots had nothing to do: with two workers, a fifth of the
processing stage ran one thing at a time (bench/scale.py). Side by side, another technique's
batches fill those gaps; the task runner's slots still bound how many batches run at once.
"""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


class NotStarted(RuntimeError):
    """A technique that was not started because another one failed first."""


def critical_first(names: list[str], after: Callable[[str], Iterable[str]]) -> list[str]:
    """``names`` (in dependency order) with those that more of the others wait for (directly or not) first:
    their batches reach the task runner first, so that the techniques after them start early. Still a
    dependency order: a technique has more waiting on it than any technique that waits on it."""
    waiting: dict[str, set[str]] = {n: set() for n in names}
    for name in reversed(names):  # dependents come later in a dependency order
        for dep in after(name):
            if dep in waiting:
                waiting[dep] |= {name} | waiting[name]
    return sorted(names, key=lambda n: -len(waiting[n]))


def in_dependency_order(names: list[str], after: Callable[[str], Iterable[str]], work: Callable[[str], T], *,
                        finish_after: Callable[[str], Iterable[str]] = lambda name: (),
                        finish: Callable[[str, T], T] = lambda name, part: part) -> dict[str, T]:
    """For each of ``names`` (in dependency order), in a thread: ``work(name)`` once the techniques it comes
    ``after`` have finished, then ``finish(name, part)`` once those it finishes after (``finish_after``)
    have finished too; a technique has finished when its ``finish`` has. Independent ones run side by
    side, and a technique whose finalize alone reads another's tables (``Technique.finalize_after``)
    runs its files beside that one's. Each thread runs in a copy of the caller's context (a Prefect flow
    run's, for its tasks). A failure lets the running ones finish and starts no other; the first
    failure, in the order of ``names``, is raised once all have stopped."""
    if len(names) <= 1:
        return {name: finish(name, work(name)) for name in names}
    futures: dict[str, Future] = {}
    failed = threading.Event()

    def wait_for(deps: Iterable[str]) -> None:
        for dep in deps:
            if dep in futures:
                futures[dep].result()  # a failed dependency: its error, and this one goes no further

    def one(name: str) -> T:
        wait_for(after(name))
        if failed.is_set():
            raise NotStarted(f"{name} was not started: another technique failed first")
        try:
            part = work(name)
            wait_for(finish_after(name))
            return finish(name, part)
        except BaseException:
            failed.set()
            raise

    def waits(name: str) -> list[str]:
        return [*after(name), *finish_after(name)]

    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="socscope-technique") as pool:
        for name in critical_first(names, waits):  # dependencies are submitted before their dependents
            futures[name] = pool.submit(contextvars.copy_context().run, one, name)
    errors = [futures[n].exception() for n in names if futures[n].exception() is not None]
    first = next((e for e in errors if not isinstance(e, NotStarted)), errors[0] if errors else None)
    if first is not None:
        raise first
    return {name: futures[name].result() for name in names}
