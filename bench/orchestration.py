"""Orchestration benchmark: the demo campaign as a user runs it (whole `socscope demo` processes), without
Prefect (`--local`, the plain-call baseline), through the embedded Prefect API, and through a running
Prefect server (`socscope server up`, started here on its own port and home, stopped after).

    python bench/orchestration.py                   # small demo (94 files), 3 alternating sets
    python bench/orchestration.py --quick           # one set
    python bench/orchestration.py --profile full    # full demo (~500 files; many minutes)
    python bench/orchestration.py --code ../base    # the same, on another checkout's code (before figures)

The demo files are written once (not timed) and copied into a fresh folder for every run, so that each
run is a first run. Modes alternate local / embedded / server within each set; medians are quoted.
CPU is user + system of the run's processes (``RUSAGE_CHILDREN``), plus the server's own CPU during the
run in server mode (read from /proc): steadier than wall time on a loaded machine.
Goals (issue 22): server / local <= 1.25, embedded / local <= 1.5. Last line: key=value pairs;
``ratio=`` is the worse of the two against its goal (ratio / goal: <= 1 meets both); ``ratio_*_cpu``: the
same on CPU seconds, the figure to compare when other jobs load the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from as_a_user import keep_bytecode  # noqa: E402
GOALS = {"server": 1.25, "embedded": 1.5}
MODES = ("local", "embedded", "server")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a process that is not our child (the server), from /proc; 0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def env_for(code: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SOCSCOPE_"))}
    env.update(PYTHONPATH=str(code), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def socscope(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    c0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "socscope.cli", *args], cwd=cwd, env=env, capture_output=True,
                          check=False, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"socscope {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds, cpu


class Server:
    """`socscope server up` on its own home and port, no worker (the runs are the CLI's); down after."""

    def __init__(self, code: Path, home: Path, port: int, config: Path):
        self.code, self.home, self.port = code, home, port
        socscope(["server", "up", "--home", str(home), "--port", str(port), "--workers", "0",
                  "--config", str(config)], home.parent, env_for(code))
        self.api_url = json.loads((home / "state.json").read_text())["api_url"]
        self.pid = json.loads((home / "pids" / "server.pid").read_text())["pid"]

    def cpu(self) -> float:
        return _proc_cpu(self.pid)

    def down(self) -> None:
        socscope(["server", "down", "--home", str(self.home)], self.home.parent, env_for(self.code))


def one_run(mode: str, template: Path, work: Path, n: int, code: Path, server: Server | None) -> tuple[float, float]:
    demo = work / f"{mode}-{n}"
    shutil.copytree(template, demo, symlinks=True)
    args = ["demo", "--dir", str(demo), "--profile", ARGS.profile] + (["--local"] if mode == "local" else [])
    env = env_for(code, server.api_url if mode == "server" else None)
    s0 = server.cpu() if mode == "server" else 0.0
    wall, cpu = socscope(args, work, env)
    if mode == "server":
        cpu += server.cpu() - s0
    shutil.rmtree(demo, ignore_errors=True)
    return wall, cpu


def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", choices=["small", "full"], default="small")
    ap.add_argument("--sets", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one set")
    ap.add_argument("--port", type=int, default=4311)
    ap.add_argument("--code", default=str(ROOT), help="checkout whose code runs (PYTHONPATH)")
    ARGS = ap.parse_args()
    sets = 1 if ARGS.quick else ARGS.sets
    code = Path(ARGS.code).resolve()
    work = Path(tempfile.mkdtemp(prefix="orch-bench-"))
    template = work / "template"
    socscope(["demo", "--dir", str(template), "--profile", ARGS.profile, "--no-run"], work, env_for(code))
    load0 = os.getloadavg()[0]
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    server = Server(code, work / "prefect-home", ARGS.port, template / "campaign.yaml")
    try:
        for n in range(sets):
            for mode in MODES:
                times[mode].append(one_run(mode, template, work, n, code, server))
                wall, cpu = times[mode][-1]
                print(f"set {n + 1} {mode:8s} wall {wall:6.2f} s  cpu {cpu:6.2f} s", flush=True)
    finally:
        server.down()
        shutil.rmtree(work, ignore_errors=True)
    load = max(load0, os.getloadavg()[0])
    wall = {m: statistics.median(w for w, _ in t) for m, t in times.items()}
    cpu = {m: statistics.median(c for _, c in t) for m, t in times.items()}
    ratios = {m: wall[m] / wall["local"] for m in GOALS}
    for m in MODES:
        print(f"{m:8s} median wall {wall[m]:6.2f} s  cpu {cpu[m]:6.2f} s"
              + (f"  {ratios[m]:.2f}x local (goal {GOALS[m]})" if m in GOALS else ""))
    print(f"# load average {load:.1f} on {os.cpu_count()} cores; code {code}")
    worst = max(ratios[m] / GOALS[m] for m in GOALS)
    print(f"bench=orchestration profile={ARGS.profile} sets={sets} "
          + " ".join(f"{m}_s={wall[m]:.2f} {m}_cpu_s={cpu[m]:.2f}" for m in MODES) + " "
          + " ".join(f"ratio_{m}={ratios[m]:.2f} ratio_{m}_cpu={cpu[m] / cpu['local']:.2f} goal_{m}={GOALS[m]}"
                     for m in GOALS)
          + f" load={load:.1f} ratio={worst:.2f}")


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
