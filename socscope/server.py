"""`socscope server up|down|status`: a Prefect server on 127.0.0.1, the work pool, the warehouse write
limit, the deployments of deployments/prefect.yaml and a worker — and exactly those stopped again.

Everything lives under a project-local PREFECT_HOME (default ``var/prefect``): the SQLite database
(unless ``--database-url`` names PostgreSQL), logs, pid files and ``state.json``. ``down`` stops only
the processes whose pid files ``up`` wrote, and only if they still are those processes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from socscope.exposure import CLIENT_AUTH, SERVER_AUTH, ExposureError, check_server_bind

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"
DEFAULT_HOME = Path("var/prefect")
DEFAULT_PORT = 4200
DEFAULT_HOST = "127.0.0.1"
WATCH_TEMPLATE = "watch-share"
#: names of the settings an embedded API of this process switched off (socscope/prefect_api.py): a real
#: server started from the same process keeps its services (its scheduler above all)
EMBEDDED_MARK = "SOCSCOPE_EMBEDDED_SETTINGS"


# ------------------------------------------------------------------------------------------ state
class ServerState:
    """Paths under PREFECT_HOME and the pid files of what `up` started."""

    def __init__(self, home: Path):
        self.home = home.resolve()
        self.pids = self.home / "pids"
        self.logs = self.home / "logs"
        self.file = self.home / "state.json"

    def read(self) -> dict[str, Any]:
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    def write(self, **values: Any) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps({**self.read(), **values}, indent=1))

    def record(self, name: str, proc: subprocess.Popen) -> None:
        self.pids.mkdir(parents=True, exist_ok=True)
        (self.pids / f"{name}.pid").write_text(json.dumps({"pid": proc.pid, "start": _start_ticks(proc.pid),
                                                           "cmd": proc.args if isinstance(proc.args, list) else [proc.args]}))

    def processes(self) -> dict[str, dict[str, Any]]:
        if not self.pids.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.pids.glob("*.pid"))}


def _start_ticks(pid: int) -> str | None:
    """Process start time from /proc: tells our process from a later one that reused its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def is_ours(info: dict[str, Any]) -> bool:
    return info.get("start") is not None and _start_ticks(info["pid"]) == info["start"]


def api_host(host: str) -> str:
    """Where this machine's clients reach a server listening on ``host`` (a wildcard answers on loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def prefect_environment(home: Path, port: int, database_url: str | None = None,
                        host: str = DEFAULT_HOST) -> dict[str, str]:
    """Environment of every process `up` starts (STACK_NOTES: writable home, no telemetry, long start-up)."""
    env = dict(os.environ)
    for key in filter(None, env.pop(EMBEDDED_MARK, "").split(",")):
        env.pop(key, None)
    url_host = api_host(host)
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://{f'[{url_host}]' if ':' in url_host else url_host}:{port}/api",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_CLI_PROMPT": "false",
        "PREFECT_UI_ENABLED": env.get("PREFECT_UI_ENABLED", "true"),
        # the flow-run processes import `flows` and any SOCSCOPE_PLUGINS module from the project root
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
        "SOCSCOPE_ROOT": str(PROJECT_ROOT),
    })
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    if env.get(SERVER_AUTH) and not env.get(CLIENT_AUTH):  # the worker and deploy must log in too
        env[CLIENT_AUTH] = env[SERVER_AUTH]
    return env


def api_healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    import urllib.request  # here, not at the top: every CLI command imports this module for its parser

    if not api_url.startswith(("http://", "https://")):  # state.json is a file: no file:// or ftp:// probes
        raise ValueError(f"not an HTTP API URL: {api_url!r}")
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as resp:
            return resp.status == 200
    except OSError:
        return False


def _spawn(state: ServerState, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    state.logs.mkdir(parents=True, exist_ok=True)
    log = open(state.logs / f"{name}.log", "ab")
    # a session of its own: `down` signals this process group, nothing else on the machine
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    state.record(name, proc)
    return proc


def client_settings(api_url: str):
    """Prefect settings for a client of our server, logged in when the server has an auth string."""
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        temporary_settings,
    )

    updates: dict[Any, Any] = {PREFECT_API_URL: api_url}
    if os.environ.get(SERVER_AUTH) and not os.environ.get(CLIENT_AUTH):
        updates[PREFECT_API_AUTH_STRING] = os.environ[SERVER_AUTH]
    return temporary_settings(updates=updates)


# ------------------------------------------------------------------------------------------ deployments
def load_prefect_file(path: Path = PREFECT_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def expand_watchers(project: dict[str, Any], shares: list[str]) -> dict[str, Any]:
    """Replace the `watch-share` template by one `watch-<share>` deployment per share of the campaign."""
    out = dict(project)
    deployments = []
    for dep in project["deployments"]:
        if dep["name"] != WATCH_TEMPLATE:
            deployments.append(dep)
            continue
        for share in shares:
            deployments.append({**dep, "name": f"watch-{share}",
                                "parameters": {**dep.get("parameters", {}), "share": share}})
    out["deployments"] = deployments
    out.pop("socscope", None)
    out.pop("definitions", None)  # anchors are already resolved by the YAML loader
    return out


def provision(api_url: str, project: dict[str, Any]) -> None:
    """Create the work pool and the global concurrency limits (idempotent)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
        WorkPoolCreate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    extra = project.get("socscope", {})
    with client_settings(api_url), get_client(sync_client=True) as client:
        pool = extra.get("work_pool", {"name": "socscope-process", "type": "process"})
        try:
            client.create_work_pool(WorkPoolCreate(name=pool["name"], type=pool["type"]))
        except ObjectAlreadyExists:
            pass
        for limit in extra.get("global_concurrency_limits", []):
            try:
                client.read_global_concurrency_limit_by_name(limit["name"])
                client.update_global_concurrency_limit(limit["name"], GlobalConcurrencyLimitUpdate(limit=limit["limit"]))
            except ObjectNotFound:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(**limit))


def deploy(env: dict[str, str], config: Path, shares: list[str], state: ServerState) -> list[str]:
    """Deploy prefect.yaml (watchers expanded per share) with the Prefect CLI; returns deployment names."""
    project = expand_watchers(load_prefect_file(), shares)
    generated = state.home / "prefect.deploy.yaml"
    generated.write_text(yaml.safe_dump(project, sort_keys=False))
    run_env = {**env, "SOCSCOPE_CONFIG": str(config)}
    proc = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all",
                           "--prefect-file", str(generated)], cwd=PROJECT_ROOT, env=run_env,
                          capture_output=True, text=True, timeout=600)
    (state.logs / "deploy.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"prefect deploy failed (see {state.logs / 'deploy.log'}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return [d["name"] for d in project["deployments"]]


# ------------------------------------------------------------------------------------------ up / down / status
def start_worker(state: ServerState, env: dict[str, str], pool: str, index: int) -> subprocess.Popen:
    name = f"worker-{index}"
    return _spawn(state, name, [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool,
                                "--type", "process", "--name", f"socscope-{name}-{os.getpid()}"], env)


def up(config: Path, home: Path = DEFAULT_HOME, port: int = DEFAULT_PORT, workers: int = 1,
       database_url: str | None = None, startup_timeout_s: float = 240.0, log=print,
       host: str = DEFAULT_HOST) -> dict[str, Any]:
    from foundation.config import load_campaign

    check_server_bind(host, os.environ)  # no API on the network without its auth string
    campaign = load_campaign(config)  # fail before starting anything if the config is wrong
    state = ServerState(home)
    state.home.mkdir(parents=True, exist_ok=True)
    prev = state.read()
    port = int(prev.get("port", port)) if _alive(state, "server") else port
    env = prefect_environment(state.home, port, database_url, host)
    api_url = env["PREFECT_API_URL"]
    t0 = time.monotonic()
    if _alive(state, "server") and api_healthy(api_url):
        log(f"server already running at {api_url}")
    else:
        if api_healthy(api_url):
            raise RuntimeError(f"something else already serves {api_url}; choose another --port")
        _spawn(state, "server", [sys.executable, "-m", "prefect", "server", "start", "--host", host,
                                 "--port", str(port)], env)
        while not api_healthy(api_url):
            if not _alive(state, "server"):
                raise RuntimeError(f"the Prefect server exited; see {state.logs / 'server.log'}")
            if time.monotonic() - t0 > startup_timeout_s:
                raise TimeoutError(f"no Prefect server at {api_url} after {startup_timeout_s:.0f} s; "
                                   f"see {state.logs / 'server.log'}")
            time.sleep(0.5)
        log(f"server up at {api_url} in {time.monotonic() - t0:.0f} s (PREFECT_HOME={state.home})")
    state.write(port=port, api_url=api_url, config=str(Path(config).resolve()),
                database="postgresql" if database_url else "sqlite")
    project = load_prefect_file()
    provision(api_url, project)
    names = deploy(env, Path(config).resolve(), [s.name for s in campaign.shares], state)
    log(f"deployed: {', '.join(names)}")
    pool = project.get("socscope", {}).get("work_pool", {}).get("name", "socscope-process")
    for i in range(1, workers + 1):
        if not _alive(state, f"worker-{i}"):
            start_worker(state, env, pool, i)
    log(f"{workers} worker(s) on pool {pool}; `socscope server down --home {state.home}` stops them")
    return {"api_url": api_url, "deployments": names, "home": str(state.home)}


def _alive(state: ServerState, name: str) -> bool:
    info = state.processes().get(name)
    return bool(info) and is_ours(info)


def stop_process(info: dict[str, Any], grace_s: float = 20.0) -> bool:
    """SIGTERM the process group `up` started, SIGKILL after ``grace_s``; False if it was already gone."""
    if not is_ours(info):
        return False
    pid = info["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and is_ours(info) and not _zombie(pid):
        time.sleep(0.2)
    if is_ours(info) and not _zombie(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def down(home: Path = DEFAULT_HOME, log=print) -> list[str]:
    state = ServerState(home)
    stopped = []
    # workers first, so no run is left without its server
    for name, info in sorted(state.processes().items(), key=lambda kv: kv[0] == "server"):
        if stop_process(info):
            stopped.append(name)
            log(f"stopped {name} (pid {info['pid']})")
        else:
            log(f"{name} (pid {info['pid']}) was not running")
        (state.pids / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def status(home: Path = DEFAULT_HOME) -> dict[str, Any]:
    state = ServerState(home)
    saved = state.read()
    out: dict[str, Any] = {"home": str(state.home), **saved,
                           "processes": {n: {"pid": i["pid"], "running": is_ours(i)} for n, i in state.processes().items()}}
    api_url = saved.get("api_url")
    out["api_healthy"] = bool(api_url) and api_healthy(api_url)
    if out["api_healthy"]:
        from prefect.client.orchestration import get_client
        with client_settings(api_url), get_client(sync_client=True) as client:
            out["deployments"] = sorted(f"{d.name}" for d in client.read_deployments())
            out["work_pools"] = [p.name for p in client.read_work_pools()]
            out["concurrency_limits"] = {g.name: {"limit": g.limit, "active_slots": g.active_slots}
                                         for g in client.read_global_concurrency_limits()}
            out["recent_runs"] = [{"name": r.name, "state": r.state.name if r.state else None}
                                  for r in client.read_flow_runs(limit=10)]
    return out


# ------------------------------------------------------------------------------------------ CLI
def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("server", help="Prefect server, work pool, deployments and worker (up|down|status)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--config", default=None, help="campaign file the deployments run on (up)")
    p.add_argument("--home", default=str(DEFAULT_HOME), help="project-local PREFECT_HOME (default var/prefect)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address the API listens on (default loopback only; any other needs {SERVER_AUTH})")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--database-url", default=os.environ.get("SOCSCOPE_PREFECT_DATABASE_URL"),
                   help="PostgreSQL for busy or multi-worker installations, e.g. "
                        "postgresql+asyncpg://prefect:PASSWORD@127.0.0.1:5432/prefect (default: SQLite in --home); "
                        "give it through $SOCSCOPE_PREFECT_DATABASE_URL so the password stays out of shell history")
    p.set_defaults(fn=cmd_server)


def cmd_server(args) -> int:
    home = Path(args.home)
    if args.action == "up":
        try:
            up(Path(args.config), home, args.port, args.workers, args.database_url, host=args.host)
        except ExposureError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif args.action == "down":
        down(home)
    else:
        info = status(home)
        print(json.dumps(info, indent=1, default=str))
        return 0 if info["api_healthy"] else 1
    return 0
