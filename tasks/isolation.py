"""Per-file isolation: one file's read and features run in a worker process that can be stopped.

A damaged file can make a reader loop for ever or allocate what its header announces (gigabytes);
in a thread, that stops the whole batch. Here each file goes to a worker process from a small pool
(one worker per task slot, reused from file to file, replaced when stopped): the caller waits at most
the time limit, then kills the worker; the worker caps its own address space (RLIMIT_AS) for the
length of the file, so an allocation beyond the limit fails inside it as a MemoryError and the worker
retires. Only small things cross the pipe: the work item and the campaign in, the FileResult (paths
of the Parquet files the worker wrote itself, and an event) out.

Workers are not ``multiprocessing`` children: a Dask worker is a daemon process, which multiprocessing
forbids to have children, and nothing of the caller's ``__main__`` is imported again. On Linux they
are forks of one fork server (tasks/forkserver.py), a plain ``python -c`` process that imported what
the files need once; elsewhere (or with ``SOCSCOPE_FILE_WORKER_START=spawn``) each is such a process
itself. They start with the caller's environment and technique registry (tests register a toy
technique), take its ``sys.path`` with each call, and die with the caller (PR_SET_PDEATHSIG on Linux).
"""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess  # nosec B404 — only the type of a worker's process
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator

from tasks import forkserver
from tasks.worker_process import (
    BOOT,
    WorkerFailed,
    call_message,
    describe_exit,
    relevant_environment,
    start_python,
    wait_ready,
)

#: how long a new worker may take to start and import the plugins (not counted in a file's limit)
START_TIMEOUT_S = 300.0

#: how a pool starts its workers (read at each start): "fork" (the default) from a fork server that
#: imported what they need, where the system allows (tasks/forkserver.py); "spawn": each a fresh Python
#: that imports them itself (for a plugin library that cannot live in a forked process)
START_METHOD_ENV = "SOCSCOPE_FILE_WORKER_START"

@dataclass
class Outcome:
    """What became of one call: its value, or how it failed (``time``, ``memory``, ``died``, ``error``)."""

    value: Any = None
    failure: str | None = None
    #: the worker's traceback (``memory``, ``error``) or how it ended (``died``)
    detail: str = ""


# ------------------------------------------------------------------------------------------ caller side
class _Worker:
    """One file worker: a fresh Python (``spawned``) or a fork of the pool's fork server (``forked``)."""

    def __init__(self, conn: Connection, environment: tuple, process: subprocess.Popen | None = None,
                 pid: int | None = None, forks: forkserver.ForkServer | None = None):
        self.conn, self.environment = conn, environment
        self._process, self._pid, self._forks = process, pid, forks
        self._code: int | None = None
        self._ended = False

    @classmethod
    def spawned(cls, boot: tuple) -> _Worker:
        process, conn, environment = start_python(BOOT, boot, START_TIMEOUT_S, "file worker")
        return cls(conn, environment, process=process)

    @classmethod
    def forked(cls, forks: forkserver.ForkServer) -> _Worker:
        pid, conn = forks.fork()
        worker = cls(conn, (), pid=pid, forks=forks)
        try:
            worker.environment = wait_ready(conn, START_TIMEOUT_S, "forked file worker")
        except (EOFError, OSError) as exc:
            worker.kill()
            raise WorkerFailed(f"a forked file worker exited while starting ({describe_exit(worker.exit_code())})"
                               ) from exc
        except BaseException:
            worker.kill()
            raise
        return worker

    def alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return not self._ended and not self.conn.poll(0)  # a worker that ended has closed its end: EOF

    def kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()
        elif not self._ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        self.exit_code()
        self.conn.close()

    def exit_code(self) -> int | None:
        """Wait for the worker to end; its exit code (negative: the signal that stopped it)."""
        if self._process is not None:
            return self._process.wait()
        if not self._ended:
            self._code, self._ended = self._forks.reap(self._pid), True
        return self._code


def forking() -> bool:
    """Are workers forked from a fork server here (``START_METHOD_ENV``)?"""
    return forkserver.AVAILABLE and os.environ.get(START_METHOD_ENV, "fork") != "spawn"


class Pool:
    """Up to ``slots`` workers, started on demand, reused, replaced when one is stopped or dies."""

    def __init__(self, slots: int, boot: tuple[dict[str, str], str, tuple[str, ...]]):
        self.slots = slots
        self.boot = boot  # (technique registry, module to preload, modules to import) for each new worker
        #: the process the workers are forked from (tasks/forkserver.py), started with the first worker
        self._forks: forkserver.ForkServer | None = None
        self._forks_lock = threading.Lock()
        #: environments its workers have: the caller's when the pool began, and each worker's as it
        #: reported it after its imports and after any call that changed it. A caller whose environment is
        #: one of these needs no new workers: a library it imported since (pandera sets SPARK_LOCAL_IP on
        #: import) set the same variables in the workers when they imported it for their files
        self.environments = {relevant_environment(os.environ)}
        self._idle: list[_Worker] = []
        self._count = 0
        self._waiting = {True: 0, False: 0}  # callers waiting for a worker, by ``first``
        self._closed = False
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def worker(self, first: bool = False) -> Iterator[_Worker]:
        """A worker for one call; ``first``: before every caller waiting without it (a step that others
        wait for: a technique's finalize, while the files of other techniques queue)."""
        with self._cond:
            self._waiting[first] += 1
            try:
                while (not self._idle and self._count >= self.slots) or (not first and self._waiting[True]):
                    self._cond.wait()
            finally:
                self._waiting[first] -= 1
            w = self._idle.pop() if self._idle else None
            if w is None:
                self._count += 1
        if w is None:
            try:
                w = self._start()
            except BaseException:
                self._release(None)
                raise
            self.saw_environment(w.environment)
        try:
            yield w
        finally:
            self._release(w)

    def warm(self) -> None:
        """Have a worker ready before the first call: the fork server (its imports), or one worker."""
        if not forking():
            with self.worker():
                return
        self._fork_server()

    def _fork_server(self) -> forkserver.ForkServer:
        with self._forks_lock:  # the first worker starts it; the others wait for its imports, not redo them
            if self._forks is None or not self._forks.alive():
                self._forks = forkserver.ForkServer(self.boot, START_TIMEOUT_S)
            return self._forks

    def _start(self) -> _Worker:
        if not forking() or self._closed:  # a closed pool's fork server is ended or about to be
            return _Worker.spawned(self.boot)
        return _Worker.forked(self._fork_server())

    def saw_environment(self, env: tuple[tuple[str, str], ...] | None) -> None:
        if env is not None:
            with self._cond:
                self.environments.add(env)

    def _release(self, w: _Worker | None) -> None:
        keep = w is not None and w.alive() and not self._closed
        if w is not None and not keep:
            w.kill()
        with self._cond:
            if keep:
                self._idle.append(w)
            else:
                self._count -= 1
            self._cond.notify_all()  # not one: the waiter woken must be a ``first`` one if there is one
            done = self._closed and self._count == 0
        if done:
            self._close_forks()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()
        with self._cond:
            done = self._count == 0
        if done:  # else the last busy worker's release closes it: its workers die with it
            self._close_forks()

    def _close_forks(self) -> None:
        with self._forks_lock:
            forks, self._forks = self._forks, None
        if forks is not None:
            forks.close()


_POOL: Pool | None = None
_POOL_KEY: tuple | None = None
_POOL_LOCK = threading.Lock()


def pool(slots: int, preload: str = "", imports: tuple[str, ...] = ()) -> Pool:
    """This process's pool, started anew when the registry or environment changed (the workers hold
    copies of them; ``Pool.environments``; ``sys.path`` goes with each call instead: ``call_message``,
    not a restart, when a library adds a folder to it); it grows to the largest ``slots`` asked for.
    ``preload``: a module the workers import before they say they are ready (the caller's), so that no
    file's clock pays for it; ``imports``: more modules their files will need (the pool's first
    caller's: a new worker lacking one imports it when a file needs it)."""
    global _POOL, _POOL_KEY
    from foundation import registry as reg

    key = (tuple(sorted(reg.TECHNIQUE_MODULES.items())), preload)
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY != key or relevant_environment(os.environ) not in _POOL.environments:
            if _POOL is not None:
                _POOL.close()
            _POOL, _POOL_KEY = Pool(slots, (dict(reg.TECHNIQUE_MODULES), preload, tuple(imports))), key
        elif slots > _POOL.slots:
            with _POOL._cond:
                _POOL.slots = slots
                _POOL._cond.notify_all()
        return _POOL


def shutdown() -> None:
    global _POOL, _POOL_KEY
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.close()
        _POOL = _POOL_KEY = None


atexit.register(shutdown)


def run(fn: Callable[..., Any], args: tuple, *, seconds: float | None, memory_mb: int | None, slots: int,
        imports: tuple[str, ...] = (), first: bool = False) -> Outcome:
    """``fn(*args)`` in a worker under the limits (None: none); never raises for what happens inside the
    worker. ``imports``: modules ``fn`` will import (``pool``); ``first``: ahead of the calls waiting
    without it (``Pool.worker``)."""
    workers = pool(slots, fn.__module__, imports)
    with workers.worker(first) as w:
        try:
            w.conn.send_bytes(call_message(fn, args, memory_mb))
            if not w.conn.poll(seconds):
                w.kill()
                return Outcome(failure="time")
            kind, payload, env = w.conn.recv()
            workers.saw_environment(env)
            if kind == "memory":  # the worker retires after a MemoryError: never hand it another file
                w.kill()
        except (EOFError, OSError):
            return Outcome(failure="died", detail=describe_exit(w.exit_code()))
    return Outcome(value=payload) if kind == "ok" else Outcome(failure=kind, detail=payload)
