"""Scale-out benchmark: the processing stage of the demo campaign with 1 and with 2 workers, on a local
object store (moto's S3 server), in two ways a facility scales out:

- ``pool``: the campaign deployment (``campaign/nightly`` of deployments/prefect.yaml) run on a Prefect
  server (``socscope server up``) through its process work pool; per-file work on ``execution.max_workers``
  file workers (the default thread task runner handing each file to a worker process, tasks/isolation.py);
- ``dask``: the same deployment with ``execution.task_runner: dask``: a local Dask cluster of
  ``max_workers`` worker processes (flows/_runtime.py task_runner);
- ``plain`` (on request): ``pipeline.process`` without Prefect in a fresh process, on the same store:
  how far the work itself scales, the reference for what orchestration costs.

One campaign run is one flow run, which one pool worker executes: its file work spreads over
``execution.max_workers`` processes. That is the "worker" counted here (a second Prefect pool
worker would only take a second, concurrent run).

    python bench/scale.py             # full demo (~500 files; long)
    python bench/scale.py --quick     # small demo (94 files)
    python bench/scale.py --modes dask --workers 1 2 --repeats 2
    python bench/scale.py --quick --modes plain pool

The demo files are written once; each run gets a warehouse of its own (a fresh prefix in the bucket; the
raw store is shared, content-addressed) and its intake is done first, in this process, identically for
every run (timed apart: ``intake_s``). The processing stage is the ``process`` subflow of the run, its
start and end as the Prefect server recorded them. A worker (``prefect worker start --run-once``) is
started per run, so its CPU time (user + system of it, the flow-run process and its file workers) is
counted by ``RUSAGE_CHILDREN``; the object store serves from this process (``store cpu``), the Prefect
server's CPU is read from /proc (``api cpu``); ``*_cpu_s`` on the last line is their sum over the whole
run. Within the stage alone, ``StageCpu`` reads every process's CPU from /proc (file workers, flow run,
Prefect worker, store, API): ``<mode>_<n>w_stage_cores`` is how many of the cores the stage kept busy
(the per-run line gives the kinds), which says whether a second worker had a core to run on. After
the runs, every file is processed once more in this process, one at a time, for its CPU cost per technique (``<technique>_cpu_ms_per_file``, ``file_costs``: the figures
docs/operations/facility-year.md projects from; ``--no-costs`` leaves it out).

Every run's warehouse must hold the same rows: ``rows_identical=1`` when the row digests of every
table and view (``row_digests``: run ids and times left out, as tests/support/fault_world.py does)
agree across all runs.

Last line: key=value pairs. ``ratio=`` is the speedup t(1 worker) / t(2 workers) of the processing
stage, the worse of the orchestrated modes run (pool, dask; plain only when it ran alone): HIGHER IS
BETTER here; the goal (issue 22) is >= 1.6 on a 2-core machine. Wall times on a loaded machine are noisy: the CPU seconds and the load average are printed
beside them; re-run it on an idle machine for the figure to quote.
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
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # its sibling memory.py reads the process tree from /proc

from as_a_user import free_port, keep_bytecode  # noqa: E402
from memory import WORKER_MARKS, cmdline, process_tree  # noqa: E402

BUCKET = "socscope-bench"
DEPLOYMENT = "campaign/nightly"
#: columns that say when or by which run a row was written (tests/support/fault_world.py LINEAGE)
LINEAGE = {"flow_run_id", "processed_at", "first_seen", "attempted_at", "registered_at", "built_at", "seconds",
           "started_at", "finished_at", "created_at", "computed_at", "checked_at", "detail_json", "traceback_digest",
           "since", "seen_at", "fingerprint"}
#: tables that log runs rather than hold results
RUN_LOGS = {"flow_runs"}
KEY_ENV, SECRET_ENV = "SOCSCOPE_BENCH_S3_KEY", "SOCSCOPE_BENCH_S3_SECRET"


# ------------------------------------------------------------------------------------------ row digests
def row_digests(con, tables: list[str]) -> dict[str, tuple[int, str]]:
    """Rows and an order-free digest of each table's rows, lineage columns left out, floats to 9 digits.

    The hashing runs in DuckDB (the full demo holds millions of pixel rows): the digest is the sum of
    the rows' hashes (a multiset digest: a changed, missing or duplicated row changes it)."""
    out = {}
    for table in tables:
        described = con.execute(f'describe "{table}"').fetchall()  # names from the catalog
        cols = [_digest_expr(name, kind) for name, kind, *_ in described if name not in LINEAGE]
        if not cols:
            continue
        n, total = con.execute(f'select count(*), coalesce(sum(hash({", ".join(cols)})::hugeint), 0) '
                               f'from "{table}"').fetchone()  # quoted names
        out[table] = (int(n), f"{int(total) % 2**64:016x}")
    return out


def _digest_expr(name: str, kind: str) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    return f"round({quoted}, 9)" if kind in ("DOUBLE", "FLOAT") else quoted


def warehouse_digests(url: str, storage_options: dict) -> dict[str, tuple[int, str]]:
    """``row_digests`` of every stored table of the warehouse at ``url`` (the views derive from them),
    except the run logs."""
    from warehouse.store import Warehouse

    wh = Warehouse(url, storage_options)
    manifest = wh.manifest()
    con = wh.connect(manifest)
    try:
        return row_digests(con, sorted(t for t in manifest.tables if t not in RUN_LOGS))
    finally:
        con.close()


def digest_differences(a: dict[str, tuple[int, str]], b: dict[str, tuple[int, str]]) -> list[str]:
    """Tables whose rows differ between two digests (or that only one has)."""
    return sorted(t for t in set(a) | set(b) if a.get(t) != b.get(t))


# ------------------------------------------------------------------------------------------ object store
def start_object_store(port: int) -> tuple[object, dict]:
    """moto's S3 server on 127.0.0.1:``port`` with the bench bucket; returns it and the storage options
    a campaign names it with (key and secret from the environment, as the config loader demands)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({KEY_ENV: "bench", SECRET_ENV: "bench"})
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                 region_name="us-east-1").create_bucket(Bucket=BUCKET)
    options = {"key": f"${{{KEY_ENV}}}", "secret": f"${{{SECRET_ENV}}}",
               "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    return server, options


def bench_config(demo: Path, name: str, task_runner: str, workers: int, options: dict) -> Path:
    """The demo campaign with its warehouse under a prefix of its own and the given execution settings."""
    import yaml

    data = yaml.safe_load((demo / "campaign.yaml").read_text())
    data["storage"] = {"warehouse": f"s3://{BUCKET}/{name}/warehouse", "raw_store": f"s3://{BUCKET}/raw",
                       "storage_options": options}
    data["execution"] = {"task_runner": task_runner, "max_workers": workers}
    path = demo / f"campaign-{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def intake(cfg: Path) -> tuple[float, float]:
    """Register and intake the campaign in this process (not part of the processing stage); wall, CPU s."""
    from foundation.config import load_campaign
    from tasks import pipeline

    c0, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    pipeline.register_campaign(campaign, wh, "bench-intake")
    pipeline.intake(campaign, wh, "bench-intake")
    return time.perf_counter() - t0, _cpu(resource.RUSAGE_SELF) - c0


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------------------ stage CPU
#: process kinds by what their command line runs (the first that matches); this process is the store
KINDS = (*(("file workers", mark) for mark in WORKER_MARKS), ("flow", "prefect.engine"), ("flow", "# plain stage"),
         ("prefect worker", "prefect worker start"), ("flow", "workspace_supervisor"))


class StageCpu:
    """CPU seconds of every process of the run, by kind, within a window known only afterwards (the
    process subflow's start and end, as the server recorded them): a thread reads /proc every
    ``interval`` s for this process (the object store answers from it), its descendants alive then
    (Prefect worker, flow run, file workers) and the Prefect server. A process that ends keeps its last
    reading. A process is known by its pid and start time: a pid that ended is given again to a new
    process or thread (reading every pid ever seen counted those, once 12 "cores" in one run)."""

    def __init__(self, server_pid: int | None, interval: float = 0.25):
        self.interval = interval
        self.samples: list[tuple[float, dict[tuple[int, int], float]]] = []
        self.kinds: dict[tuple[int, int], str] = {}
        self._fixed = {os.getpid(): "store"} | ({server_pid: "api"} if server_pid else {})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stage-cpu")
        self._thread.start()

    def _run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(self.interval):
            reading: dict[tuple[int, int], float] = {}
            for pid in set(process_tree(os.getpid())) | set(self._fixed):
                stat = _cpu_ticks(pid)
                if stat is None:
                    continue
                process = (pid, stat[0])
                if process not in self.kinds:
                    self.kinds[process] = self._fixed.get(pid) or _kind(pid)
                reading[process] = stat[1] / tick
            self.samples.append((time.time(), reading))

    def window(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds by kind between the epoch times ``t0`` and ``t1``."""
        def at(t: float) -> dict[tuple[int, int], float]:  # each process's last reading at or before t
            out: dict[tuple[int, int], float] = {}
            for when, cpu in self.samples:
                if when > t:
                    break
                out.update(cpu)
            return out

        start, end = at(t0), at(t1)
        used: dict[str, float] = {}
        for process, cpu in end.items():
            used[self.kinds[process]] = used.get(self.kinds[process], 0.0) + cpu - start.get(process, 0.0)
        return used

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_ticks(pid: int) -> tuple[int, int] | None:
    """The process's start time and the clock ticks of user + system CPU it has used (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[19]), int(fields[11]) + int(fields[12])


def _kind(pid: int) -> str:
    command = cmdline(pid)
    return next((kind for kind, mark in KINDS if mark in command), "other")


# ------------------------------------------------------------------------------------------ Prefect
class PrefectServer:
    """`socscope server up` on a temporary home (no standing worker, schedules switched off); each run
    gets a worker of its own (`--run-once`), a child of this process, so that its CPU is counted."""

    def __init__(self, home: Path, port: int, config: Path):
        from socscope import server

        self.home, self.port = home, port
        self.env = {**server.prefect_environment(home, port), KEY_ENV: "bench", SECRET_ENV: "bench"}
        self.api_url = self.env["PREFECT_API_URL"]
        done = subprocess.run([sys.executable, "-m", "socscope.cli", "server", "up", "--config", str(config),
                               "--home", str(home), "--port", str(port), "--workers", "0"],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            self.down()
            raise SystemExit(f"socscope server up failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        self._schedules_off()

    def _schedules_off(self) -> None:
        """Watchers every 5 min and the nightly run would compete with the runs measured."""
        from prefect.client.orchestration import get_client

        from socscope.server import client_settings

        with client_settings(self.api_url), get_client(sync_client=True) as client:
            for dep in client.read_deployments():
                for schedule in client.read_deployment_schedules(dep.id):
                    client.update_deployment_schedule(dep.id, schedule.id, active=False)

    def run(self, cfg: Path) -> dict[str, float]:
        """One campaign run (marts left out) through the pool; the process subflow's and the run's seconds."""
        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment

        from socscope.server import client_settings

        with client_settings(self.api_url):
            flow_run = run_deployment(DEPLOYMENT, parameters={"config": str(cfg), "build_marts": False}, timeout=0)
        c0, s0, api0 = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF), self.server_cpu()
        worker = subprocess.run([sys.executable, "-m", "prefect", "worker", "start", "--pool", "socscope-process",
                                 "--type", "process", "--run-once", "--name", f"bench-{uuid.uuid4().hex[:6]}"],
                                cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        cpu, store_cpu = _cpu(resource.RUSAGE_CHILDREN) - c0, _cpu(resource.RUSAGE_SELF) - s0
        api_cpu = self.server_cpu() - api0
        with client_settings(self.api_url), get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run.id)
            if not (run.state and run.state.is_completed()):
                raise SystemExit(f"run of {cfg.name} ended {run.state}:\n{worker.stdout[-3000:]}{worker.stderr[-3000:]}")
            span = _subflow_span(client, run.id, "process")
            if span is None:  # the flows no longer have a process subflow: the whole run, said so
                print(f"# no 'process' subflow in run {run.id}: the whole run is timed")
                span = run.start_time.timestamp(), run.end_time.timestamp()
            task_s = _task_seconds(client, run.id)
        return {"process_s": span[1] - span[0], "span": span,
                "run_s": (run.end_time - run.start_time).total_seconds(), "cpu_s": cpu,
                "store_cpu_s": store_cpu, "api_cpu_s": api_cpu,
                "all_cpu_s": cpu + store_cpu + api_cpu, "task_s": task_s}

    def server_pid(self) -> int | None:
        """The Prefect server's process (not our child: ``socscope server`` records it)."""
        from socscope.server import ServerState, is_ours

        info = ServerState(self.home).processes().get("server")
        return int(info["pid"]) if info and is_ours(info) else None

    def server_cpu(self) -> float:
        """CPU seconds of the Prefect server process so far (read from /proc)."""
        pid = self.server_pid()
        if pid is None:
            return float("nan")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

    def down(self) -> None:
        subprocess.run([sys.executable, "-m", "socscope.cli", "server", "down", "--home", str(self.home)],
                       cwd=ROOT, env=self.env, capture_output=True, check=False)


def _subflow_span(client, parent_id, name: str) -> tuple[float, float] | None:
    """Start and end (epoch s) of the subflow ``name`` of a run, as the server recorded them (None: no such
    subflow)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])))
    for child in children:
        if client.read_flow(child.flow_id).name == name and child.start_time and child.end_time:
            return child.start_time.timestamp(), child.end_time.timestamp()
    return None


def _task_seconds(client, run_id) -> dict[str, float]:
    """Seconds of the run's task runs (its subflows' too), summed by the word before the first '-' of
    their names: per technique for the per-file (or per-batch) tasks, named ``<technique>-...``."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    family, todo = [run_id], [run_id]
    while todo:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=todo)))
        todo = [c.id for c in children if c.id not in family]
        family += todo
    out: dict[str, float] = {}
    offset = 0
    while True:
        page = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=family)),
                                     limit=200, offset=offset)
        for t in page:
            if t.start_time and t.end_time:
                word = t.name.split("-", 1)[0]
                out[word] = out.get(word, 0.0) + (t.end_time - t.start_time).total_seconds()
        if len(page) < 200:
            return out
        offset += 200


def warehouse_size(url: str, storage_options: dict) -> tuple[int, float]:
    """Data files the current manifest names, and their MiB on the store (the facility-year page scales these)."""
    from warehouse.store import Warehouse

    wh = Warehouse(url, storage_options)
    paths = {wh._abs(e.path) for es in wh.manifest().tables.values() for e in es}
    listed = wh.fs.find(wh._abs("data"), detail=True)  # one listing, not a request per file
    return len(paths), sum(info["size"] for path, info in listed.items() if path in paths) / 2**20


def per_file_costs(url: str, storage_options: dict, task_s: dict[str, float]) -> dict[str, tuple[int, float]]:
    """(files, seconds per file) per technique: the run's task seconds of the technique over its files
    processed (``ingest_events``, stage process). With one worker the tasks ran one after another, so
    this is each technique's cost per file, as a facility sizing needs it (docs/operations/facility-year.md)."""
    from warehouse.store import Warehouse

    files = Warehouse(url, storage_options).query(
        "select technique, count(*) as n from ingest_events where stage = 'process' group by 1")
    return {r.technique: (int(r.n), task_s[r.technique] / r.n) for r in files.itertuples() if r.technique in task_s}


#: the processing stage as plain calls (no Prefect): the reference for how far the work itself scales
PLAIN = """# plain stage
import json, sys, time
from foundation.config import load_campaign
from tasks import pipeline
campaign = load_campaign(sys.argv[1])
t0, start = time.perf_counter(), time.time()
pipeline.process(campaign, pipeline.open_warehouse(campaign), "plain")
print(json.dumps({"process_s": time.perf_counter() - t0, "span": [start, time.time()]}))
"""


def run_plain(cfg: Path) -> dict[str, float]:
    """``pipeline.process`` in a fresh process (file workers from ``execution.max_workers``, a thread each)."""
    c0, s0 = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PLAIN, str(cfg)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}, check=False)
    run_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"plain processing of {cfg.name} failed:\n{done.stderr[-3000:]}")
    cpu, store_cpu = _cpu(resource.RUSAGE_CHILDREN) - c0, _cpu(resource.RUSAGE_SELF) - s0
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "run_s": run_s, "cpu_s": cpu, "store_cpu_s": store_cpu,
            "api_cpu_s": 0.0, "all_cpu_s": cpu + store_cpu, "task_s": {}}


def file_costs(cfg: Path) -> dict[str, dict[str, float]]:
    """Per technique: files, CPU and wall ms per file of ``pipeline.process_file_here`` (the work a file
    worker does: fetch from the store, read, features, validation, Parquet to the store), every file of
    the processed warehouse once more, in this process, one after another. CPU time hardly depends on
    the machine's load: it is what docs/operations/facility-year.md sizes from. ``cpu_ms`` is the whole
    process's (DuckDB's and Arrow's threads, and the object store answering this file's requests);
    ``thread_cpu_ms`` the calling thread's alone. The rows go to new, uncommitted files: the warehouse
    does not change."""
    from foundation.config import load_campaign
    from foundation.registry import ordered_techniques
    from tasks import pipeline

    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    out = {}
    for name in ordered_techniques():
        items = pipeline.pending_work(campaign, wh, name, force=True)
        cpu = own = wall = rows = 0.0
        for item in items:
            c0, o0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
            result = pipeline.process_file_here(item, campaign, wh.url, "bench-costs")
            cpu, own = cpu + time.process_time() - c0, own + time.thread_time() - o0
            wall += time.perf_counter() - t0
            rows += result.event.rows_written or 0
        if items:
            k = 1000 / len(items)
            out[name] = {"files": len(items), "cpu_ms": k * cpu, "thread_cpu_ms": k * own, "wall_ms": k * wall,
                         "rows_per_file": rows / len(items)}
    return out


# ------------------------------------------------------------------------------------------ main
def measure(demo: Path, options: dict, server: PrefectServer | None, sampler: StageCpu, mode: str,
            workers: int) -> dict:
    name = f"{mode}-{workers}-{uuid.uuid4().hex[:6]}"
    cfg = bench_config(demo, name, "dask" if mode == "dask" else "threads", workers, options)
    intake_s, intake_cpu = intake(cfg)
    figures = run_plain(cfg) if mode == "plain" else server.run(cfg)
    time.sleep(2 * sampler.interval)  # a reading after the stage's end
    stage_cpu = sampler.window(*figures.pop("span"))
    from foundation.config import load_campaign

    campaign = load_campaign(cfg)
    url, options = campaign.resolve(campaign.storage.warehouse), campaign.storage.storage_options
    digests = warehouse_digests(url, options)
    costs = per_file_costs(url, options, figures.pop("task_s"))
    data_files, data_mib = warehouse_size(url, options)
    print(f"{mode:5s} {workers} worker(s): process {figures['process_s']:7.2f} s  (run {figures['run_s']:.2f} s, "
          f"cpu {figures['cpu_s']:.1f} s, store cpu {figures['store_cpu_s']:.1f} s, "
          f"api cpu {figures['api_cpu_s']:.1f} s; intake {intake_s:.1f} s "
          f"cpu {intake_cpu:.1f} s)  {data_files} data files, {data_mib:.0f} MiB", flush=True)
    print(f"      CPU within the stage: {sum(stage_cpu.values()):.1f} s = "
          f"{sum(stage_cpu.values()) / figures['process_s']:.2f} cores busy; "
          + ", ".join(f"{kind} {sec:.1f} s" for kind, sec in sorted(stage_cpu.items(), key=lambda kv: -kv[1])), flush=True)
    if workers == 1 and costs:
        print("      per file (1 worker, task time / files): " + ", ".join(
            f"{t} {n} files {1000 * s:.0f} ms" for t, (n, s) in sorted(costs.items())), flush=True)
    return {**figures, "stage_cpu_s": sum(stage_cpu.values()), "intake_s": intake_s, "digests": digests, "config": cfg}


def run_order(modes: list[str], workers: list[int], repeats: int) -> list[tuple[str, int]]:
    """Alternate the worker counts (1, 2, then 2, 1 ...) so that neither always runs on a colder machine."""
    order = []
    for rep in range(repeats):
        for i, mode in enumerate(modes):
            order += [(mode, n) for n in (workers if (rep + i) % 2 == 0 else workers[::-1])]
    return order


def summary_line(results: dict[tuple[str, int], list[dict]], costs: dict[str, dict[str, float]], profile: str,
                 load: float) -> str:
    pairs, ratios = [], []
    for mode in sorted({m for m, _ in results}):
        med = {n: statistics.median(r["process_s"] for r in rs) for (m, n), rs in results.items() if m == mode}
        cpu = {n: statistics.median(r["all_cpu_s"] for r in rs) for (m, n), rs in results.items() if m == mode}
        cores = {n: statistics.median(r["stage_cpu_s"] / r["process_s"] for r in rs)
                 for (m, n), rs in results.items() if m == mode}
        pairs += [f"{mode}_{n}w_s={med[n]:.2f} {mode}_{n}w_cpu_s={cpu[n]:.1f} {mode}_{n}w_stage_cores={cores[n]:.2f}"
                  for n in sorted(med)]
        if 1 in med and 2 in med:
            pairs.append(f"{mode}_speedup={med[1] / med[2]:.2f}")
            if mode != "plain" or all(m == "plain" for m, _ in results):  # plain: the reference, not a way we run
                ratios.append(med[1] / med[2])
    digests = [r["digests"] for rs in results.values() for r in rs]
    differ = sorted({t for d in digests[1:] for t in digest_differences(digests[0], d)})
    if differ:
        print(f"# rows differ between runs in: {', '.join(differ)}")
    intake_s = statistics.median(r["intake_s"] for rs in results.values() for r in rs)
    for tech, c in sorted(costs.items()):
        pairs.append(f"{tech}_cpu_ms_per_file={c['cpu_ms']:.0f}")
    return (f"bench=scale profile={profile} {' '.join(pairs)} intake_s={intake_s:.2f} "
            f"rows_identical={int(not differ)} load={load:.1f} cores={os.cpu_count()} "
            f"ratio={min(ratios) if ratios else float('nan'):.2f}")


def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the small demo (94 files)")
    ap.add_argument("--modes", nargs="+", choices=["pool", "dask", "plain"], default=["pool", "dask"],
                    help="plain: pipeline.process without Prefect, the reference for how far the work scales")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-costs", dest="costs", action="store_false",
                    help="leave out the per-file costs (every file once more, in this process, after the runs)")
    ap.add_argument("--port", type=int, default=4312, help="Prefect server port (another if it is taken)")
    ap.add_argument("--s3-port", type=int, default=4322, help="moto S3 server port (another if it is taken)")
    args = ap.parse_args()
    profile = "small" if args.quick else "full"
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    store, options = start_object_store(free_port(args.s3_port))
    server = sampler = None
    load = os.getloadavg()[0]
    try:
        from socscope.demo import write_demo

        write_demo(work / "demo", profile)
        if set(args.modes) - {"plain"}:
            server = PrefectServer(work / "prefect", free_port(args.port), work / "demo" / "campaign.yaml")
        sampler = StageCpu(server.server_pid() if server else None)
        results: dict[tuple[str, int], list[dict]] = {}
        for mode, n in run_order(args.modes, args.workers, args.repeats):
            results.setdefault((mode, n), []).append(measure(work / "demo", options, server, sampler, mode, n))
            last_cfg = results[(mode, n)][-1]["config"]
            load = max(load, os.getloadavg()[0])
        costs = file_costs(last_cfg) if args.costs else {}
        for tech, c in sorted(costs.items()):
            print(f"cost per file, {tech}: {c['files']} files, cpu {c['cpu_ms']:.0f} ms (this thread "
                  f"{c['thread_cpu_ms']:.0f} ms), wall {c['wall_ms']:.0f} ms, "
                  f"{c['rows_per_file']:.0f} rows")
        load = max(load, os.getloadavg()[0])
        print(f"# load average up to {load:.1f} on {os.cpu_count()} cores")
        print(summary_line(results, costs, profile, load))
    finally:
        if sampler is not None:
            sampler.stop()
        if server is not None:
            server.down()
        store.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
