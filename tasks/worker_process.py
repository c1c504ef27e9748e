"""One worker process, both ends: starting a fresh Python that talks over a socketpair, and inside it,
its imports and its loop of calls, each under a memory limit, until its caller goes.

tasks/isolation.py keeps a pool of such workers and runs a file's work in one; tasks/forkserver.py
forks them from one process that did the imports. The protocol on the socket (pickled tuples): the
boot ``(technique registry, module to preload, modules to import)`` in, ``("ready", environment)``
out once the imports are done; then ``(fn, args, memory_mb)`` in, ``(kind, payload, changed
environment)`` out for each call (kind ``ok``, ``error`` or ``memory``: the worker retires after it).
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle  # nosec B403 — only between this process and its own workers, over a private socketpair
import queue
import signal
import socket
import subprocess  # nosec B404 — starts sys.executable with fixed arguments, no shell
import sys
import threading
import time
import traceback
from concurrent.futures import Future
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Iterator, Mapping

#: variables that change from task to task (and that no reader reads): not a reason for new workers
VOLATILE_ENV = ("PYTEST_CURRENT_TEST", "PREFECT_")

#: a worker started afresh: ``python -c BOOT <socket fd> <caller pid> <caller sys.path as JSON>``
BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[3]); "
        "from tasks.worker_process import serve; serve(int(sys.argv[1]), int(sys.argv[2]))")


class WorkerFailed(RuntimeError):
    """A worker could not be started (it exited or did not answer while importing the plugins)."""


# ------------------------------------------------------------------------------------------ caller side
class _Spawner:
    """One daemon thread that starts every worker process. Linux sends a process its parent-death signal
    when the *thread* that started it ends: the callers are short-lived task threads, and an executor's
    thread ends at interpreter exit before the ``atexit`` handlers run, which would kill the workers
    before the pool closes them in order (and their CPU time would be lost to ``RUSAGE_CHILDREN``)."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True, name="socscope-worker-spawner").start()

    def _run(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # noqa: BLE001 — handed to the caller
                done.set_exception(exc)

    def start(self, *args: Any, **kwargs: Any) -> subprocess.Popen:
        done: Future = Future()
        self._jobs.put((lambda: subprocess.Popen(*args, **kwargs), done))
        return done.result()


_SPAWNER = _Spawner()


def start_python(code: str, boot: tuple, timeout_s: float, what: str
                 ) -> tuple[subprocess.Popen, Connection, tuple[tuple[str, str], ...]]:
    """A ``python -c code`` process with one end of a socketpair, the caller's ``sys.path`` and environment:
    sent ``boot``, it answers ("ready", its environment) once its imports are done. Returns the process,
    the caller's end and that environment; ``WorkerFailed`` when it exits or does not answer in time."""
    mine, theirs = socket.socketpair()
    argv = [sys.executable, "-c", code, str(theirs.fileno()), str(os.getpid()), json.dumps(sys.path)]
    proc = _SPAWNER.start(argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=dict(os.environ))
    theirs.close()
    conn = Connection(mine.detach())
    try:
        conn.send(boot)
        return proc, conn, wait_ready(conn, timeout_s, what)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        conn.close()
        if isinstance(exc, (EOFError, OSError)):
            raise WorkerFailed(f"a {what} exited while starting ({describe_exit(proc.returncode)}): "
                               f"see its output above") from exc
        raise


def wait_ready(conn: Connection, timeout_s: float, what: str) -> tuple[tuple[str, str], ...]:
    if not conn.poll(timeout_s):
        raise WorkerFailed(f"a {what} did not start within {timeout_s:g} s")
    _, environment = conn.recv()  # "ready": imports done, so a file's clock counts only the file
    return environment


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


# ------------------------------------------------------------------------------------------ worker side
def serve(fd: int, parent_pid: int) -> None:
    """A worker started afresh: its imports, then ``serve_calls``; it exits with the caller."""
    die_with_parent(parent_pid)
    conn = Connection(fd)
    prepare_worker(conn.recv())
    serve_calls(conn)


def prepare_worker(boot: tuple[dict[str, str], str, tuple[str, ...]]) -> None:
    """The caller's technique registry, and the imports a file needs, before any file's clock starts."""
    import importlib

    from foundation import registry as reg

    reg.TECHNIQUE_MODULES, preload, imports = boot
    if preload:
        importlib.import_module(preload)
    with contextlib.suppress(Exception):  # best effort: a plugin that fails to import fails its files
        reg.ordered_techniques()
    for name in imports:
        with contextlib.suppress(Exception):  # an optional library that is not installed: its files say so
            importlib.import_module(name)


def call_message(fn: Any, args: tuple, memory_mb: int | None) -> bytes:
    """A call as ``serve_calls`` takes it: the caller's ``sys.path``, then the call pickled apart, so that the
    worker takes the path on before it unpickles the function and its arguments (whose modules may be
    found only there). A folder put on the path after the workers started (a Dask cluster's scratch
    folders) reaches them with the next call, instead of a new pool and its imports."""
    return pickle.dumps((list(sys.path), bytes(ForkingPickler.dumps((fn, args, memory_mb)))))


def follow_path(path: list[str]) -> None:
    """This worker's ``sys.path`` made the caller's (modules imported already stay, as in the caller)."""
    if sys.path != path:
        sys.path[:] = path


def serve_calls(conn: Connection) -> None:
    """The worker's loop: say ready, then take a call, run it under the memory limit, answer."""
    env = relevant_environment(os.environ)
    conn.send(("ready", env))
    while True:
        try:
            job = conn.recv_bytes()
        except EOFError:
            return
        retire = False
        try:
            path, call = pickle.loads(job)  # nosec B301 — sent by the parent that started us
            follow_path(path)
            fn, args, memory_mb = pickle.loads(call)  # nosec B301 — likewise
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


def die_with_parent(parent_pid: int) -> None:
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
