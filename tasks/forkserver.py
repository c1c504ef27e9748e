"""File workers forked from one process that has imported what they need (Linux).

A file worker started as a fresh Python imports the plugins and the libraries their files use
(scipy, scikit-image, pandera, s3fs...: ~2.8 s of CPU on the demo campaign), once per worker, on the
cores the workers then share: with two workers on two cores, the second one's imports were a tenth
of the processing stage. Here one process, the fork server, imports them once; each worker is a fork
of it, ready in milliseconds, sharing the imported pages until it writes to them.

The fork server does nothing but import and fork: it runs none of the work (no file, store or
connection is opened in it) and starts no thread of its own but its parent watch, so that a fork
copies no lock a working thread held (the hazard of forking a process that works). A library that
starts threads at import prepares for a fork itself (OpenBLAS does); one that does not can be kept
out with ``SOCSCOPE_FILE_WORKER_START=spawn``. It dies with its caller (PR_SET_PDEATHSIG), and its
workers die with it. A worker is the fork server's child, not the caller's: the caller kills it
by its pid and asks the fork server for its exit status (which also reaps it).

Protocol on the fork server's socket (pickled tuples): the boot ``(registry, preload, imports)`` in,
``("ready", environment)`` out; then ``("fork",)`` followed by one end of a socketpair passed with
SCM_RIGHTS, answered with the worker's pid; ``("reap", pid)``, answered with its exit code
(``subprocess``'s convention: negative for a signal) or None when it is not the fork server's child.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # nosec B404 — only its TimeoutExpired
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle

from tasks import worker_process

BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[3]); "
        "from tasks.forkserver import serve_forks; serve_forks(int(sys.argv[1]), int(sys.argv[2]))")

#: how long a fork server may take to end its workers when its caller closes it, before it is killed
CLOSE_TIMEOUT_S = 10.0

#: ``fork`` with ``PR_SET_PDEATHSIG``: where the pool forks its workers; elsewhere each starts afresh
AVAILABLE = sys.platform.startswith("linux") and hasattr(os, "fork")


class ForkServer:
    """The caller's handle on one fork server: ``fork()`` a worker, ``reap(pid)`` one that ended."""

    def __init__(self, boot: tuple, start_timeout_s: float):
        self.process, self._conn, self.environment = worker_process.start_python(BOOT, boot, start_timeout_s, "fork server")
        self._lock = threading.Lock()  # one exchange at a time: task threads fork and reap concurrently
        self._forked = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self) -> tuple[int, Connection]:
        """A new worker: its pid and the caller's end of its socket (it says "ready" on it first)."""
        mine, theirs = socket.socketpair()
        try:
            with self._lock:
                self._conn.send(("fork",))
                send_handle(self._conn, theirs.fileno(), self.process.pid)
                pid = self._conn.recv()
                self._forked += 1
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        return pid, Connection(mine.detach())

    def reap(self, pid: int) -> int | None:
        """Wait for worker ``pid`` to end (kill it first) and return its exit code; None when the fork
        server is gone (its workers died with it and are not its to reap)."""
        try:
            with self._lock:
                self._conn.send(("reap", pid))
                return self._conn.recv()
        except (EOFError, OSError):
            return None

    def close(self) -> None:
        """End the fork server and its workers; it reaps them first, so that their CPU time is counted in
        its own and in its caller's (``RUSAGE_CHILDREN``), as a worker started afresh would be."""
        self._conn.close()
        if not self._forked:  # nothing to reap: do not wait for imports that may still be going on
            self.process.kill()
        try:
            self.process.wait(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ------------------------------------------------------------------------------------------ fork server side
def serve_forks(fd: int, parent_pid: int) -> None:
    """The fork server's loop: import what the workers need, then fork one at each request."""
    worker_process.die_with_parent(parent_pid)
    conn = Connection(fd)
    worker_process.prepare_worker(conn.recv())
    conn.send(("ready", worker_process.relevant_environment(os.environ)))
    me, children = os.getpid(), set()
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the caller closed: its workers go with it
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _reap(pid)
            return
        if request[0] == "fork":
            worker_fd = recv_handle(conn)
            pid = os.fork()
            if pid == 0:
                _become_worker(conn, worker_fd, me)
            os.close(worker_fd)
            children.add(pid)
            conn.send(pid)
        elif request[0] == "reap":
            children.discard(request[1])
            conn.send(_reap(request[1]))


def _become_worker(server_conn: Connection, fd: int, server_pid: int) -> None:
    """In the forked child: serve files on ``fd`` until the caller closes it; never return to the loop."""
    code = 0
    try:
        server_conn.close()  # the fork server's socket is its own
        worker_process.die_with_parent(server_pid)
        worker_process.serve_calls(Connection(fd))
    except BaseException:  # noqa: BLE001 — say why on stderr, as a worker started afresh would
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # not the fork server's atexit handlers, nor its loop


def _reap(pid: int) -> int | None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status)
