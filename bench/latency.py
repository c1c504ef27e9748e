"""Live latency: a file put on a watched share, to its rows queryable, through the watcher deployment
on a running server (`socscope server up`), against the same work done by plain calls in a warm process.

    python bench/latency.py            # 20 files (NEXAFS demo files of another seed: new content)
    python bench/latency.py --quick    # 5 files
    python bench/latency.py --oneshot 2   # also 2 files through a one-pass watcher run each (the old design)

The demo's NEXAFS share (demo settings: settle_seconds 0, poll_seconds as the share says) is taken in
first by a local run (not timed), then copied twice: one campaign watched by the server's `watch-kara`
deployment, one twin for the baseline. Each probe file is written to a temporary name (ignored:
``*.tmp``) and renamed into place, as a beamline writes. Alternating, per file:
  A  the watcher: rename → the file's rows in ``xas_spectra`` (the bench polls the catalog);
  B  the baseline: rename, then ``pipeline.intake`` + ``pipeline.process`` called directly (the same
     listing, hash, raw-store copy, isolated read, commit and catalog) in this warm process.
Parts of A (medians): detection = rename → the watcher's first listing that saw the file (its log
line ``seen_at``), settle = seen → accepted (``accepted_at``: intake starts), processing = accepted →
rows written (the process event's ``attempted_at``), commit = rows written → the manifest version
holding them (``manifests/*.json`` ``created_at``), visible = commit → the bench's query saw the rows.
Goal (issue 22): median <= 15 s. Last line: key=value pairs, ``ratio=`` median / 15 s.
CPU: the watcher's (the worker's process tree, from /proc: its flow-run process and file workers)
and the baseline's (this process and its children) over the probe loop.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from as_a_user import keep_bytecode  # noqa: E402
sys.path.insert(0, str(ROOT))

GOAL_S = 15.0
#: the watcher schedule's interval at the base commit (ce1365a): one one-pass run every 5 min
OLD_INTERVAL_S = 300
SHARE = "kara"
TOOK = re.compile(r"took kara:(\S+) seen_at=([\d.]+) accepted_at=([\d.]+)")


def campaign_dir(root: Path) -> Path:
    """The demo campaign with its NEXAFS share only, processed once by a local run."""
    from socscope.demo import write_demo
    from tasks import pipeline

    write_demo(root, "small", techniques=["nexafs"])
    cfg = root / "campaign.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["shares"] = [s for s in data["shares"] if s["name"] == SHARE]
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    pipeline.run_local(cfg)
    return cfg


def probe_files(work: Path, n: int) -> list[Path]:
    """NEXAFS demo files of other seeds (same samples, other noise: new content), sample files only."""
    from socscope.demo import write_demo

    files: list[Path] = []
    seed = 623
    while len(files) < n:
        stage = work / f"stage{seed}"
        write_demo(stage, "small", seed=seed, techniques=["nexafs"])
        files += sorted(p for p in (stage / "share/nexafs").glob("P-*/*.dat"))
        seed += 1
    return files[:n]


def arrive(src: Path, share: Path, k: int, tag: str) -> tuple[str, float]:
    """Write ``src`` under a temporary name in its sample folder and rename it into place; (sha256, time)."""
    folder = share / src.parent.name
    final = folder / f"{tag}{k:02d}_{src.name}"
    tmp = folder / f".{final.name}.tmp"
    shutil.copyfile(src, tmp)  # a fresh mtime, as new data has
    os.replace(tmp, final)
    return hashlib.sha256(final.read_bytes()).hexdigest(), time.time()


def visible(wh, sha: str, timeout_s: float = 180.0) -> float:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if wh.query("select count(*) n from xas_spectra where raw_sha256 = ?", [sha]).n[0]:
                return time.time()
        except Exception:  # noqa: BLE001 - a catalog being rewritten: look again
            pass
        time.sleep(0.1)
    raise SystemExit(f"{sha[:12]} not queryable after {timeout_s:.0f} s: see the watcher run's logs")


def tree_cpu(root: int) -> float:
    """User + system seconds of a process and its live descendants, with their waited-for children
    (from /proc): the worker, its flow-run processes and their file workers."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(stat.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / tick)
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, (ppid, _) in procs.items() if ppid in frontier and pid not in tree]
        tree.update(frontier)
    return sum(procs[pid][1] for pid in tree if pid in procs)


def own_cpu() -> float:
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


# ------------------------------------------------------------------------------------------ server
def cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "socscope.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"socscope {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def client(api_url: str):
    from socscope.server import client_settings

    return client_settings(api_url)


def start_watch_run(api_url: str, watch_seconds: float | None = None, timeout_s: float = 300.0) -> str | None:
    """A run of watch-kara now (as the scheduler starts one): its id once it runs. When a scheduled run
    already watches (ours is cancelled: CANCEL_NEW), that run's id; None for a one-pass run then."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterStateName

    with client(api_url), get_client(sync_client=True) as c:
        dep = c.read_deployment_by_name(f"watch-share/watch-{SHARE}")
        params = {} if watch_seconds is None else {"watch_seconds": watch_seconds}
        run = str(c.create_flow_run_from_deployment(dep.id, parameters=params).id)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            state = c.read_flow_run(run).state
            if state and (state.is_running() or state.is_final()) and not state.is_cancelled():
                return run
            if state and state.is_cancelled():
                if watch_seconds == 0:
                    return None
                running = c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                                           flow_run_filter=FlowRunFilter(state=FlowRunFilterStateName(any_=["Running"])))
                if running:
                    return str(running[0].id)
            time.sleep(0.5)
    raise SystemExit(f"the watcher run {run} did not start in {timeout_s:.0f} s")


def wait_final(api_url: str, run_id: str, timeout_s: float = 300.0) -> None:
    deadline = time.time() + timeout_s
    while run_state(api_url, run_id) not in ("Completed", "Cancelled", "Failed", "Crashed", "Skipped"):
        if time.time() > deadline:
            raise SystemExit(f"run {run_id} did not end in {timeout_s:.0f} s")
        time.sleep(0.5)


def run_logs(api_url: str, run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with client(api_url), get_client(sync_client=True) as c:
        logs = c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200)
        return [entry.message for entry in logs]


def run_state(api_url: str, run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with client(api_url), get_client(sync_client=True) as c:
        state = c.read_flow_run(run_id).state
        return state.name if state else "?"


def wait_watching(api_url: str, run_id: str, timeout_s: float = 300.0) -> float:
    """Seconds until the watcher run logged its first listing (process start, imports, first intake)."""
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if any(m.startswith("watching share") for m in run_logs(api_url, run_id)):
            return time.time() - t0
        if run_state(api_url, run_id) in ("Cancelled", "Failed", "Crashed", "Completed"):
            raise SystemExit(f"watcher run {run_id} ended ({run_state(api_url, run_id)}) before it watched")
        time.sleep(0.5)
    raise SystemExit(f"watcher run {run_id} did not start watching in {timeout_s:.0f} s")


# ------------------------------------------------------------------------------------------ parts
def commit_times(wh_root: Path) -> list[tuple[float, str | None]]:
    out = []
    for f in sorted((wh_root / "manifests").glob("*.json")):
        head = json.loads(f.read_text())
        out.append((datetime.fromisoformat(head["created_at"]).timestamp(), head.get("flow_run_id")))
    return out


def parts(wh, wh_root: Path, probes: list[dict], logs: list[str]) -> None:
    """Fill each probe's seen / accepted / written / committed times from the watcher's log and the warehouse."""
    took = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in map(TOOK.search, logs) if m}
    events = wh.query("select raw_sha256, attempted_at, flow_run_id from ingest_events where stage = 'process' "
                      "and status = 'ok' and list_contains(?::VARCHAR[], raw_sha256)", [[p["sha"] for p in probes]])
    written = {r.raw_sha256: (r.attempted_at.timestamp(), r.flow_run_id) for r in events.itertuples()}
    commits = commit_times(wh_root)
    for p in probes:
        p["seen"], p["accepted"] = took[p["rel"]]
        p["written"], run = written[p["sha"]]
        p["committed"] = min(t for t, rid in commits if rid == run and t >= p["written"])


def median(values) -> float:
    return statistics.median(values)


def p90(values) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 files")
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--oneshot", type=int, default=0, help="files also timed through a one-pass watcher run each")
    ap.add_argument("--port", type=int, default=4313)
    args = ap.parse_args()
    n = 5 if args.quick else args.files
    from foundation.config import load_campaign
    from tasks import pipeline

    work = Path(tempfile.mkdtemp(prefix="latency-bench-"))
    load0 = os.getloadavg()[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false")
    home = work / "prefect"
    try:
        cfg = campaign_dir(work / "watched")
        shutil.copytree(work / "watched", work / "twin")
        files = probe_files(work, n + args.oneshot)
        watched, twin = load_campaign(cfg), load_campaign(work / "twin/campaign.yaml")
        wh, twin_wh = pipeline.open_warehouse(watched), pipeline.open_warehouse(twin)
        share, twin_share = work / "watched/share/nexafs", work / "twin/share/nexafs"
        poll_s = watched.shares[0].poll_seconds

        t0 = time.time()
        cli(["server", "up", "--config", str(cfg), "--home", str(home), "--port", str(args.port)], env)
        up_s = time.time() - t0
        api_url = json.loads((home / "state.json").read_text())["api_url"]
        worker = json.loads((home / "pids/worker-1.pid").read_text())["pid"]
        print(f"server up in {up_s:.1f} s at {api_url}")

        oneshot = []
        for k in range(args.oneshot):  # the old design: every file waits for a new run of its own
            sha, t = arrive(files[n + k], share, k, "one")
            run = start_watch_run(api_url, watch_seconds=0)
            oneshot.append(visible(wh, sha) - t)
            print(f"one-pass run {k}: {oneshot[-1]:.1f} s from arrival to queryable")
            if run:
                wait_final(api_url, run)  # one watcher at a time: the next would be cancelled

        run = start_watch_run(api_url)
        assert run is not None
        ready_s = wait_watching(api_url, run)
        print(f"watcher run {run} watching after {ready_s:.1f} s")
        probes, base, base_cpu = [], [], 0.0
        cpu0 = tree_cpu(worker)
        for k, src in enumerate(files[:n]):
            sha, t = arrive(src, share, k, "lat")
            probes.append({"sha": sha, "rel": f"{src.parent.name}/lat{k:02d}_{src.name}", "arrived": t,
                           "visible": visible(wh, sha)})
            c0 = own_cpu()
            sha_b, tb = arrive(src, twin_share, k, "lat")
            pipeline.intake(twin, twin_wh, "baseline", shares=[SHARE])
            pipeline.process(twin, twin_wh, "baseline", techniques=["nexafs"])
            base.append(visible(twin_wh, sha_b, 10) - tb)
            base_cpu += own_cpu() - c0
            print(f"file {k:2d}: watcher {probes[-1]['visible'] - t:5.2f} s   baseline {base[-1]:5.2f} s")
        watcher_cpu = tree_cpu(worker) - cpu0
        time.sleep(3)  # the run's logs reach the API in batches
        parts(wh, Path(wh.root), probes, run_logs(api_url, run))
        out = cli(["query", "--config", str(cfg), "--format", "csv",  # a sha256 hex digest: safe in the text
                   f"select count(*) as n from xas_spectra where raw_sha256 = '{probes[-1]['sha']}'"], env)
        assert out.strip().splitlines()[-1].strip() not in ("0", ""), out
    finally:
        cli(["server", "down", "--home", str(home)], env) if home.exists() else None
        shutil.rmtree(work, ignore_errors=True)

    total = [p["visible"] - p["arrived"] for p in probes]
    part = {"detection_s": [p["seen"] - p["arrived"] for p in probes],
            "settle_s": [p["accepted"] - p["seen"] for p in probes],
            "processing_s": [p["written"] - p["accepted"] for p in probes],
            "commit_s": [p["committed"] - p["written"] for p in probes],
            "visible_s": [p["visible"] - p["committed"] for p in probes]}
    load = max(load0, os.getloadavg()[0])
    print(f"# watcher median {median(total):.2f} s (p90 {p90(total):.2f}, max {max(total):.2f}) vs baseline "
          f"{median(base):.2f} s; parts: " + ", ".join(f"{k[:-2]} {median(v):.2f}" for k, v in part.items()))
    print(f"# load average {load:.1f} on {os.cpu_count()} cores; poll every {poll_s:g} s; watcher CPU "
          f"{watcher_cpu:.1f} s, baseline CPU {base_cpu:.1f} s over {n} files")
    before = (f" oneshot_s={median(oneshot):.2f} before_median_s={OLD_INTERVAL_S / 2 + median(oneshot):.0f}"
              if oneshot else "")
    print(f"bench=latency files={n} ratio={median(total) / GOAL_S:.3f} median_s={median(total):.2f} "
          f"p90_s={p90(total):.2f} " + " ".join(f"{k}={median(v):.2f}" for k, v in part.items())
          + f" baseline_s={median(base):.2f} overhead={median(total) / median(base):.2f} "
          f"watcher_cpu_s={watcher_cpu / n:.2f} baseline_cpu_s={base_cpu / n:.2f} poll_s={poll_s:g} "
          f"server_up_s={up_s:.1f} watch_ready_s={ready_s:.1f}{before} load={load:.1f}")


if __name__ == "__main__":
    main()
