"""Memory benchmark: peak resident memory (RSS high-water mark) of `socscope demo --local` as a user runs
it, in its main process and in each file worker (tasks/isolation.py), against the plainest code doing the
heaviest single unit of the same work.

    python bench/memory.py            # the full demo (~500 files; minutes)
    python bench/memory.py --quick    # the small demo (94 files)

The demo files are written first by `socscope demo --no-run` (its peak is printed, not part of the goal);
then `socscope demo --local` runs them. Peaks come from two places: the kernel's high-water mark of each
process (``VmHWM`` in /proc/<pid>/status, sampled every 50 ms over the process tree: it only grows, so a
sample taken after a peak still holds it) and ``ru_maxrss`` of the run's process tree (a small wrapper
process waits for `socscope` and reports RUSAGE_CHILDREN: the largest process of the tree, exact).
Baseline: the largest AFM map of the share read with the field's library (igor2 for .ibw, pySPM for
Nanoscope .spm) and its pixel rows (x, y, every channel) written with pyarrow, in a fresh process of
its own; run before and after the demo, the larger peak quoted.
Goal (issue 22): the largest process peaks <= 1024 MiB. Last line: key=value pairs, ``ratio=`` is
peak / baseline peak.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess  # nosec B404 — runs sys.executable with fixed arguments, no shell
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from as_a_user import keep_bytecode  # noqa: E402

GOAL_MIB = 1024
#: how a file worker's command line starts its loop: afresh (tasks/worker_process.py BOOT), or as a fork of
#: the fork server, whose command line it keeps (tasks/forkserver.py BOOT; the fork server counts too)
WORKER_MARKS = ("from tasks.worker_process import serve", "from tasks.forkserver import serve_forks")

#: runs argv[1:] and prints the largest ru_maxrss (KiB on Linux) of the processes it waited for
WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
           "print('RU_MAXRSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
           "sys.exit(rc)")

#: the baseline: one map read with the library and its pixel rows written with pyarrow, nothing else
BASELINE = r"""
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
path, out = sys.argv[1], sys.argv[2]
if path.endswith(".ibw"):
    from igor2 import binarywave
    wave = binarywave.load(path)["wave"]["wData"]
    layers = [wave[:, :, k] for k in range(wave.shape[2])] if wave.ndim == 3 else [wave]
else:
    import pySPM
    spm = pySPM.Bruker(path)
    names = [layer[b"@2:Image Data"][0].split(b'"')[1].decode() for layer in spm.layers]
    layers = [np.asarray(spm.get_channel(n).pixels) for n in names]
ny, nx = layers[0].shape
y, x = np.divmod(np.arange(ny * nx), nx)
cols = {"x_px": x.astype(np.int32), "y_px": y.astype(np.int32)}
cols |= {f"channel_{k}": np.asarray(a, dtype=np.float64).ravel() for k, a in enumerate(layers)}
pq.write_table(pa.table(cols), out, compression="zstd")
with open("/proc/self/status") as fh:
    print(next(line for line in fh if line.startswith("VmHWM")).split()[1])
"""


# ------------------------------------------------------------------------------------------ reading /proc
def peak_rss_mib(pid: int) -> float | None:
    """The kernel's high-water mark of the process's resident memory (``VmHWM``), in MiB; None when the
    process is gone (or has no /proc entry)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant alive now (from /proc/<pid>/task/<tid>/children)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return tree


def cmdline(pid: int) -> str:
    """The process's command line, its arguments joined by spaces ("" when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class TreeSampler:
    """Samples the high-water mark of every process under a root pid until stopped: per pid its largest
    VmHWM seen and whether it is a file worker."""

    def __init__(self, root: int, every_s: float = 0.05):
        self.root, self.every_s = root, every_s
        self.peaks: dict[int, float] = {}
        self.workers: set[int] = set()
        self._cmdlines: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)

    def sample(self) -> None:
        for pid in process_tree(self.root):
            command, peak = cmdline(pid), peak_rss_mib(pid)
            if peak is None:
                continue
            if self._cmdlines.get(pid) != command:  # new, or exec'd since: a child caught between fork and
                self._cmdlines[pid] = command     # exec shows its parent's pages, not its own
                self.peaks.pop(pid, None)
                if any(mark in command for mark in WORKER_MARKS):
                    self.workers.add(pid)
            self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak)


# ------------------------------------------------------------------------------------------ runs
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def socscope(args: list[str], cwd: Path) -> dict[str, float]:
    """One `socscope ...` process (through the wrapper) with its tree sampled: wall and CPU seconds, the
    peak of its main process, of its largest worker and of the whole tree (ru_maxrss), in MiB."""
    argv = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "socscope.cli", *args]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    main_pid = _main_pid(proc.pid)
    with TreeSampler(main_pid or proc.pid) as tree:
        out, err = proc.communicate()
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"socscope {' '.join(args)} failed ({proc.returncode}):\n{out[-2000:]}{err[-2000:]}")
    ru = next(int(line.split()[1]) for line in err.splitlines() if line.startswith("RU_MAXRSS_KIB"))
    workers = [tree.peaks[p] for p in tree.workers]
    return {"wall_s": seconds, "cpu_s": cpu, "main_mib": tree.peaks.get(main_pid, 0.0),
            "worker_mib": max(workers, default=0.0), "workers": len(workers), "tree_mib": ru / 1024}


def _main_pid(wrapper: int, timeout_s: float = 30.0) -> int | None:
    """The `socscope` process the wrapper started (its only child)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kids = [p for p in process_tree(wrapper) if p != wrapper]
        if kids:
            return kids[0]
        time.sleep(0.005)
    return None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def largest_map(share: Path) -> Path:
    maps = [p for p in share.rglob("*") if p.suffix in (".ibw", ".spm") and not p.name.startswith("._")]
    return max(maps, key=lambda p: (p.stat().st_size, p.name))


def baseline(path: Path, work: Path) -> float:
    """Peak RSS (MiB) of a fresh process that reads ``path`` with the library and writes its pixel rows."""
    done = subprocess.run([sys.executable, "-c", BASELINE, str(path), str(work / "baseline.parquet")],
                          env=_env(), capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="the small demo instead of the full one")
    args = ap.parse_args()
    profile = "small" if args.quick else "full"
    work = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    demo = work / "demo"
    load0 = os.getloadavg()[0]
    try:
        written = socscope(["demo", "--dir", str(demo), "--profile", profile, "--no-run"], work)
        path = largest_map(demo / "share")
        size_mib = path.stat().st_size / 2**20
        base = [baseline(path, work)]
        run = socscope(["demo", "--dir", str(demo), "--profile", profile, "--local"], work)
        base.append(baseline(path, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = max(load0, os.getloadavg()[0])
    peak, base_mib = max(run["main_mib"], run["worker_mib"], run["tree_mib"]), max(base)
    print(f"demo files written ({profile}): peak {written['tree_mib']:.0f} MiB, {written['wall_s']:.1f} s")
    print(f"demo run --local: main process {run['main_mib']:.0f} MiB, largest of {run['workers']} workers "
          f"{run['worker_mib']:.0f} MiB, process tree (ru_maxrss) {run['tree_mib']:.0f} MiB; "
          f"{run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s cpu")
    print(f"baseline: {path.name} ({size_mib:.1f} MiB) read with its library, pixel rows written with pyarrow: "
          f"{base[0]:.0f} / {base[1]:.0f} MiB (before / after the run)")
    print(f"# load average {load:.1f} on {os.cpu_count()} cores")
    print(f"bench=memory profile={profile} main_peak_mib={run['main_mib']:.0f} worker_peak_mib={run['worker_mib']:.0f} "
          f"tree_peak_mib={run['tree_mib']:.0f} write_peak_mib={written['tree_mib']:.0f} "
          f"baseline_peak_mib={base_mib:.0f} run_s={run['wall_s']:.1f} run_cpu_s={run['cpu_s']:.1f} "
          f"load={load:.1f} goal_mib={GOAL_MIB} goal_met={int(peak <= GOAL_MIB)} ratio={peak / base_mib:.2f}")


if __name__ == "__main__":
    main()
