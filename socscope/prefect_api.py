"""Which Prefect API a `socscope run`/`demo` talks to: a running server when there is one, else an
embedded one, started with only what a one-shot run needs.

Order: ``PREFECT_API_URL`` when set (the person chose a server); else the server `socscope server up`
recorded in its ``state.json`` (``$SOCSCOPE_PREFECT_HOME``, else ``var/prefect`` under the working
directory or the project) when its API answers; else Prefect's embedded API, in a PREFECT_HOME next to
the campaign. The embedded one starts a server process for the length of the run: its background
services (schedules, late runs, automations, event persistence, ...) serve deployments and a UI that
a one-shot run does not have, so they stay off, as does registering the block types. It is started
in the background (:class:`EmbeddedAPI`): the run goes on with what needs no API and waits for it
only where Prefect first calls it.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess  # nosec B404 - sys.executable with a fixed program
import sys
import tempfile
import time
from pathlib import Path

from socscope.exposure import CLIENT_AUTH, SERVER_AUTH
from socscope.server import DEFAULT_HOME, EMBEDDED_MARK, PROJECT_ROOT, ServerState, api_healthy

#: server services an embedded API of one run does without (PREFECT_SERVER_SERVICES_<NAME>_ENABLED).
#: Kept: TASK_RUN_RECORDER (task runs reach the database through it). The rest serve schedules,
#: workers, automations, the UI's event feed and database upkeep — none exists for one run.
EMBEDDED_SERVICES_OFF = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "REPOSSESSOR", "CANCELLATION_CLEANUP",
                         "PAUSE_EXPIRATIONS", "CLEANUP_RECONCILER", "DB_VACUUM", "TRIGGERS", "EVENT_LOGGER",
                         "EVENT_PERSISTER")


def embedded_settings() -> dict[str, str]:
    """Environment of an embedded API that starts as fast as Prefect allows (the measured savings are
    in docs/operations/orchestration.md)."""
    settings = {f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in EMBEDDED_SERVICES_OFF}
    settings.update(PREFECT_API_BLOCKS_REGISTER_ON_START="false", PREFECT_UI_ENABLED="false")
    return settings


def server_homes(cwd: Path | None = None) -> list[Path]:
    """Where `socscope server up` may have left its state, in the order they are tried."""
    named = os.environ.get("SOCSCOPE_PREFECT_HOME")
    if named:
        return [Path(named)]
    return list(dict.fromkeys([(cwd or Path.cwd()) / DEFAULT_HOME, PROJECT_ROOT / DEFAULT_HOME]))


def running_server(cwd: Path | None = None) -> str | None:
    """The API URL of a server `socscope server up` started and that answers now, else None."""
    for home in server_homes(cwd):
        url = ServerState(home).read().get("api_url")
        if url and api_healthy(url, timeout_s=1.0):
            return url
    return None


def choose_api(home: Path) -> str:
    """Point this process's Prefect at the API a run uses (before Prefect is imported): returns the
    server's URL, or "embedded". ``home``: the PREFECT_HOME of this campaign's runs (results, and the
    embedded API's database)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "true")
    if os.environ.get("PREFECT_API_URL"):
        return "embedded" if _ours(os.environ["PREFECT_API_URL"]) else os.environ["PREFECT_API_URL"]
    url = running_server()
    if url:
        os.environ["PREFECT_API_URL"] = url
        if os.environ.get(SERVER_AUTH) and not os.environ.get(CLIENT_AUTH):  # a server with a login
            os.environ[CLIENT_AUTH] = os.environ[SERVER_AUTH]
        return url
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    switched = [key for key in embedded_settings() if key not in os.environ]  # a setting of the user's stays
    os.environ.update({key: embedded_settings()[key] for key in switched})
    os.environ[EMBEDDED_MARK] = ",".join(filter(None, [os.environ.get(EMBEDDED_MARK, ""), *switched]))
    if not os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
        seed_database(Path(os.environ["PREFECT_HOME"]))
    return "embedded"


#: the embedded API's database in its PREFECT_HOME (Prefect's default SQLite location)
DATABASE = "prefect.db"


def seed_database(home: Path) -> None:
    """Give a new PREFECT_HOME a copy of an empty database already migrated to this Prefect version.

    Migrating a new SQLite database (Prefect's alembic chain) costs ~6 s of CPU at the first run of
    every campaign; the copy is made once per Prefect version and machine, under the user's cache
    folder. Best effort: without it, the embedded API migrates as it always did."""
    if (home / DATABASE).exists():
        return
    try:
        template = _migrated_template()
        tmp = home / f".{DATABASE}.{os.getpid()}.tmp"
        shutil.copyfile(template, tmp)
        os.replace(tmp, home / DATABASE)
    except (OSError, subprocess.SubprocessError):
        return


def _migrated_template() -> Path:
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "socscope"
    template = cache / f"prefect-{version('prefect')}-empty.db"
    if template.exists():
        return template
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=tmp, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
        subprocess.run([sys.executable, "-c", MIGRATE], env=env, check=True, timeout=600,  # nosec B603
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(Path(tmp) / DATABASE, template)  # whole or not at all, also with two runs at once
    return template


MIGRATE = ("import asyncio; from prefect.server.database import provide_database_interface; "
           "asyncio.run(provide_database_interface().create_db())")


# ------------------------------------------------------------------------------------------ embedded API
#: the child process of an embedded API: Prefect's API app under uvicorn, on the listening socket whose
#: file descriptor it is given (bound by the parent, so the URL is known before the child has started)
SERVE = ("import socket, sys, uvicorn; "
         "uvicorn.Server(uvicorn.Config('prefect.server.api.server:create_app', factory=True, lifespan='on', "
         "log_level='error')).run(sockets=[socket.socket(fileno=int(sys.argv[1]))])")


class EmbeddedAPI:
    """Prefect's API for this process's runs, in a child process started at once and waited for only
    where the run first needs it (:meth:`wait`): meanwhile the run imports Prefect and its flows and
    takes the shares' new files into the raw store.

    Prefect's own ephemeral start (the first API call without ``PREFECT_API_URL``) blocks until the API
    answers, and imports Prefect's server (FastAPI, SQLAlchemy, ~2 s of CPU) into the client too, which
    never uses it. Here the listening socket is bound in this process and handed to the child: its URL
    is known at once, no other program can take the port meanwhile, and a request made before the
    child answers waits for it instead of failing."""

    def __init__(self, process: subprocess.Popen, url: str):
        self.process, self.url = process, url

    @classmethod
    def start(cls) -> EmbeddedAPI:
        sock = socket.create_server(("127.0.0.1", 0))
        try:
            env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
            process = subprocess.Popen([sys.executable, "-c", SERVE, str(sock.fileno())], env=env,  # nosec B603
                                       pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL)
            api = cls(process, f"http://127.0.0.1:{sock.getsockname()[1]}/api")
        finally:
            sock.close()  # the child's copy only: if it dies, requests are refused instead of waiting
        atexit.register(api.stop)  # registered before Prefect's own exit handlers: runs after them
        return api

    def alive(self) -> bool:
        return self.process.poll() is None

    def answers(self) -> bool:
        return api_healthy(self.url, timeout_s=1.0)

    def wait(self, timeout_s: float | None = None) -> None:
        """Return when the API answers; fail with the child's exit code if it stopped first."""
        timeout_s = timeout_s or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if not self.alive():
                raise RuntimeError(f"the embedded Prefect API stopped (exit code {self.process.returncode}) before "
                                   f"it answered; its errors are above. `socscope server up` runs a server instead")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded Prefect API did not answer within {timeout_s:.0f} s "
                                   f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_EMBEDDED: EmbeddedAPI | None = None


def _ours(url: str) -> bool:
    return _EMBEDDED is not None and _EMBEDDED.url == url and _EMBEDDED.alive()


def start_embedded() -> EmbeddedAPI:
    """Start this process's embedded API unless it runs already, and point Prefect at it (before Prefect
    is imported). The URL is marked as the embedded API's, so that `socscope server up` drops it."""
    global _EMBEDDED
    if _EMBEDDED is None or not _EMBEDDED.alive():
        _EMBEDDED = EmbeddedAPI.start()
    os.environ["PREFECT_API_URL"] = _EMBEDDED.url
    marked = os.environ.get(EMBEDDED_MARK, "").split(",")
    if "PREFECT_API_URL" not in marked:
        os.environ[EMBEDDED_MARK] = ",".join(filter(None, [*marked, "PREFECT_API_URL"]))
    return _EMBEDDED


def wait_for_api() -> None:
    """Where a run first needs Prefect's API: wait for the embedded one, when this process started one."""
    if _EMBEDDED is not None and os.environ.get("PREFECT_API_URL") == _EMBEDDED.url:
        _EMBEDDED.wait()
