"""No-op re-run benchmark: `socscope run` on the demo campaign, first run vs a re-run with nothing new,
without Prefect (--local) and through Prefect (embedded API), as a user runs them (whole processes).

    python bench/noop.py                  # small demo (94 files)
    python bench/noop.py --profile full   # full demo (~500 files; minutes)

The demo files are written first (not timed); then, per mode, the first run, then ``--repeats`` re-runs
(median quoted). A re-run must leave the warehouse as it was (same manifest version: nothing hashed,
rebuilt or rewritten) — ``unchanged=`` says so. Goal (issue 22): rerun / first <= 0.05.
Last line: key=value pairs; ``ratio=`` is the worse of the two modes' rerun/first on wall time,
``*_cpu_ratio`` the same on CPU time (user + system of the processes), steadier on a loaded machine.
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


def socscope(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one `socscope ...` process and its children (its output is
    checked, not shown). On a loaded machine the CPU figure is the one to compare."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    c0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "socscope.cli", *args], cwd=cwd, env=env, capture_output=True, check=False,
                          text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"socscope {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def manifest_version(demo: Path) -> int:
    return json.loads((demo / "warehouse" / "MANIFEST.json").read_text())["version"]


def one_mode(work: Path, profile: str, local: bool, repeats: int) -> dict[str, float]:
    demo = work / ("local" if local else "prefect")
    socscope(["demo", "--dir", str(demo), "--profile", profile, "--no-run"], work)
    run = ["run", "--config", str(demo / "campaign.yaml")] + (["--local"] if local else [])
    first, first_cpu = socscope(run, work)
    version = manifest_version(demo)
    reruns = [socscope(run, work) for _ in range(repeats)]
    return {"first_s": first, "rerun_s": statistics.median(w for w, _ in reruns),
            "rerun_max_s": max(w for w, _ in reruns), "first_cpu_s": first_cpu,
            "rerun_cpu_s": statistics.median(c for _, c in reruns), "unchanged": int(manifest_version(demo) == version)}


def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", choices=["small", "full"], default="small")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["local", "prefect"], help="one mode only")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="noop-bench-"))
    load0 = os.getloadavg()[0]
    out: dict[str, dict[str, float]] = {}
    try:
        for mode in ("local", "prefect"):
            if args.only in (None, mode):
                out[mode] = one_mode(work, args.profile, mode == "local", args.repeats)
                r = out[mode]
                print(f"{mode:8s} first {r['first_s']:7.2f} s  re-run median {r['rerun_s']:6.2f} s "
                      f"(max {r['rerun_max_s']:.2f})  ratio {r['rerun_s'] / r['first_s']:.3f}  "
                      f"cpu {r['first_cpu_s']:.2f} / {r['rerun_cpu_s']:.2f} s  warehouse unchanged: {bool(r['unchanged'])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = max(load0, os.getloadavg()[0])
    pairs = " ".join(f"{m}_first_s={r['first_s']:.2f} {m}_rerun_s={r['rerun_s']:.2f} "
                     f"{m}_ratio={r['rerun_s'] / r['first_s']:.3f} {m}_cpu_ratio={r['rerun_cpu_s'] / r['first_cpu_s']:.3f}"
                     for m, r in out.items())
    worst = max(r["rerun_s"] / r["first_s"] for r in out.values())
    unchanged = int(all(r["unchanged"] for r in out.values()))
    print(f"# load average {load:.1f} on {os.cpu_count()} cores")
    print(f"bench=noop profile={args.profile} repeats={args.repeats} {pairs} unchanged={unchanged} "
          f"load={load:.1f} ratio={worst:.3f}")


if __name__ == "__main__":
    main()
