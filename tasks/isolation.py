"""Per-file isolation: one file's read and features run in a worker process that can be stopped.

A damaged file can make a reader loop for ever or allocate what its header announces (gigabytes);
in a thread, that stops the whole batch. Here each file goes to a worker process from a small pool
(one worker per task slot, reused from file to file, replaced when stopped): the caller waits at most
the time limit, then kills the worker; the worker caps its own address space (RLIMIT_AS) for the
length of the file, so an allocation beyond the limit fails inside it as a MemoryError and the worker
retires. Only small things cross the pipe: the work item and the campaign in, the FileResult (paths
of the Parquet files the worker wrote itself, and an event) out.

Workers are plain ``python -c`` processes, not ``multiprocessing`` children: a Dask worker is a daemon
process, which multiprocessing forbids to have children, and nothing of the caller's ``__main__``
is imported again. They start with the caller's ``sys.path``, environment and technique registry
(tests register a toy technique), and die with the caller (PR_SET_PDEATHSIG on Linux).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle  # nosec B403 — only between this process and its own workers, over a private socketpair
import signal
import socket
import subprocess  # nosec B404 — starts sys.executable with fixed arguments, no shell
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator, Mapping

#: how long a new worker may take to start and import the plugins (not counted in a file's limit)
START_TIMEOUT_S = 300.0

#: variables that change from task to task (and that no reader reads): not a reason for new workers
VOLATILE_ENV = ("PYTEST_CURRENT_TEST", "PREFECT_")

BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[3]); "
        "from tasks.isolation import serve; serve(int(sys.argv[1]), int(sys.argv[2]))")


@dataclass
class Outcome:
    """What became of one call: its value, or how it failed (``time``, ``memory``, ``died``, ``error``)."""

    value: Any = None
    failure: str | None = None
    #: the worker's traceback (``memory``, ``error``) or how it ended (``died``)
    detail: str = ""


class WorkerFailed(RuntimeError):
    """A worker could not be started (it exited or did not answer while importing the plugins)."""


# ------------------------------------------------------------------------------------------ caller side
class _Worker:
    def __init__(self, boot: tuple[dict[str, str], str]):
        mine, theirs = socket.socketpair()
        argv = [sys.executable, "-c", BOOT, str(theirs.fileno()), str(os.getpid()), json.dumps(sys.path)]
        # started from one long-lived thread: Linux sends the worker its parent-death signal when the
        # *thread* that started it ends, and the callers are short-lived task threads
        self.proc = _SPAWNER.submit(subprocess.Popen, argv, pass_fds=(theirs.fileno(),),
                                    stdin=subprocess.DEVNULL, env=dict(os.environ)).result()
        theirs.close()
        self.conn = Connection(mine.detach())
        try:
            self.conn.send(boot)
            if not self.conn.poll(START_TIMEOUT_S):
                raise WorkerFailed(f"a file worker did not start within {START_TIMEOUT_S:g} s")
            _, self.environment = self.conn.recv()  # "ready": imports done, so a file's clock counts only the file
        except (EOFError, OSError) as exc:
            self.kill()
            raise WorkerFailed(f"a file worker exited while starting ({describe_exit(self.proc.returncode)}): "
                               f"see its output above") from exc
        except BaseException:
            self.kill()
            raise

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self.conn.close()


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def relevant_environment(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The variables of ``env`` a worker's files may depend on (not those that change from task to task)."""
    return tuple(sorted((k, v) for k, v in env.items() if not k.startswith(VOLATILE_ENV)))


class Pool:
    """Up to ``slots`` workers, started on demand, reused, replaced when one is stopped or dies."""

    def __init__(self, slots: int, boot: tuple[dict[str, str], str]):
        self.slots = slots
        self.boot = boot  # (technique registry, module to preload) for each new worker
        #: environments its workers have: the caller's when the pool began, and each worker's as it
        #: reported it after its imports and after any call that changed it. A caller whose environment is
        #: one of these needs no new workers: a library it imported since (pandera sets SPARK_LOCAL_IP on
        #: import) set the same variables in the workers when they imported it for their files
        self.environments = {relevant_environment(os.environ)}
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def worker(self) -> Iterator[_Worker]:
        with self._cond:
            while not self._idle and self._count >= self.slots:
                self._cond.wait()
            w = self._idle.pop() if self._idle else None
            if w is None:
                self._count += 1
        if w is None:
            try:
                w = _Worker(self.boot)
            except BaseException:
                self._release(None)
                raise
            self.saw_environment(w.environment)
        try:
            yield w
        finally:
            self._release(w)

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
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()


_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="socscope-worker-spawner")
_POOL: Pool | None = None
_POOL_KEY: tuple | None = None
_POOL_LOCK = threading.Lock()


def pool(slots: int, preload: str = "") -> Pool:
    """This process's pool, started anew when the registry, sys.path or environment changed (the
    workers hold copies of them; ``Pool.environments``); it grows to the largest ``slots`` asked for.
    ``preload``: a module the workers import before they say they are ready (the caller's), so that no
    file's clock pays for it."""
    global _POOL, _POOL_KEY
    from foundation import registry as reg

    key = (tuple(sorted(reg.TECHNIQUE_MODULES.items())), tuple(sys.path), preload)
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY != key or relevant_environment(os.environ) not in _POOL.environments:
            if _POOL is not None:
                _POOL.close()
            _POOL, _POOL_KEY = Pool(slots, (dict(reg.TECHNIQUE_MODULES), preload)), key
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


def run(fn: Callable[..., Any], args: tuple, *, seconds: float | None, memory_mb: int | None, slots: int) -> Outcome:
    """``fn(*args)`` in a worker under the limits (None: none); never raises for what happens inside the worker."""
    workers = pool(slots, fn.__module__)
    with workers.worker() as w:
        try:
            w.conn.send((fn, args, memory_mb))
            if not w.conn.poll(seconds):
                w.kill()
                return Outcome(failure="time")
            kind, payload, env = w.conn.recv()
            workers.saw_environment(env)
            if kind == "memory":  # the worker retires after a MemoryError: never hand it another file
                w.kill()
        except (EOFError, OSError):
            w.proc.wait()
            return Outcome(failure="died", detail=describe_exit(w.proc.returncode))
    return Outcome(value=payload) if kind == "ok" else Outcome(failure=kind, detail=payload)


# ------------------------------------------------------------------------------------------ worker side
def serve(fd: int, parent_pid: int) -> None:
    """The worker's loop: take a call, run it under the memory limit, answer; exit with the caller."""
    _die_with_parent(parent_pid)
    conn = Connection(fd)
    import importlib

    from foundation import registry as reg

    reg.TECHNIQUE_MODULES, preload = conn.recv()
    if preload:
        importlib.import_module(preload)  # the imports a file needs, before its clock starts

    with contextlib.suppress(Exception):  # best effort: a plugin that fails to import fails its files
        reg.ordered_techniques()
    env = relevant_environment(os.environ)
    conn.send(("ready", env))
    while True:
        try:
            job = conn.recv_bytes()
        except EOFError:
            return
        retire = False
        try:
            fn, args, memory_mb = pickle.loads(job)  # nosec B301 — sent by the parent that started us
            with address_space(memory_mb):
                reply = ("ok", fn(*args))
        except MemoryError:
            reply, retire = ("memory", traceback.format_exc()), True  # its heap may be in pieces: start afresh
        except BaseException:  # noqa: BLE001 — the caller turns it into a quarantine reason
            reply = ("error", traceback.format_exc())
        now = relevant_environment(os.environ)  # a library imported for this file may have set variables
        changed, env = (now if now != env else None), now
        try:
            conn.send((*reply, changed))
        except Exception:  # noqa: BLE001 — a value that cannot be pickled
            conn.send(("error", traceback.format_exc(), changed))
        if retire:
            return


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    def watch() -> None:  # elsewhere, and should the signal fail: look every second
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


@contextlib.contextmanager
def address_space(memory_mb: int | None) -> Iterator[None]:
    """Allow ``memory_mb`` more address space than the worker holds now, for the length of the block."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):  # no /proc (macOS, where RLIMIT_AS is not enforced anyway)
        memory_mb = None
    if not memory_mb:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = now + memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
