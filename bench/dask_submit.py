"""What a Prefect task costs the flow's process on the Dask task runner: ours (flows/_dask.py) against
prefect-dask's ``DaskTaskRunner`` (the library the platform builds on), with Prefect's thread runner
beside them for scale. One process, a local in-process cluster of 2 worker threads (as
``execution.task_runner: dask`` makes), rounds alternating between the runners.

Each round submits ``--tasks`` tasks of a batch's shape (16 work items of a few fields, an index) and
waits for all; the figure is the process's CPU (all threads: submission, the cluster, the task engine)
per task. The flow runs under settings of its own (``temporary_settings``), as a flow-run process does
(its engine enters a settings context of its own), so a task's context carries them to the worker.

    python bench/dask_submit.py             # 3 rounds of 60 tasks per runner
    python bench/dask_submit.py --quick     # 2 rounds of 20

Last line: key=value pairs; ``ratio=`` ours / prefect-dask on CPU per task, lower is better. The
first round of each runner (its cluster's start, first imports) is left out of the medians.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
#: the temporary server's services and the closing cluster report their shutdown at length; not the bench's
os.environ.setdefault("PREFECT_LOGGING_SERVER_LEVEL", "CRITICAL")

ITEMS = [{"path": f"share/S{i % 14 + 1}/pattern_{i:04d}.nxs", "sha256": f"{i:064x}", "size_bytes": 1_000_000 + i}
         for i in range(16)]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_runner(kind: str):
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows._dask import SocscopeDaskTaskRunner
    from flows._runtime import local_cluster

    if kind == "ours":  # what flows/_runtime.task_runner makes for a local cluster of 2
        return SocscopeDaskTaskRunner(cluster_kwargs=local_cluster(2))
    if kind == "prefect_dask":
        return DaskTaskRunner(cluster_kwargs=local_cluster(2))
    return ThreadPoolTaskRunner(max_workers=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tasks", type=int)
    ap.add_argument("--rounds", type=int)
    args = ap.parse_args()
    tasks, rounds = args.tasks or (20 if args.quick else 60), args.rounds or (2 if args.quick else 3)

    import dask
    import distributed  # noqa: F401  (configures its loggers on import: quietened below)
    from prefect import flow, task
    from prefect.futures import as_completed
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows._runtime import LOCAL_DASK_CONFIG

    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    dask.config.set(LOCAL_DASK_CONFIG)

    @task(persist_result=False)
    def batch(items: list[dict], index: int) -> int:
        return len(items) + index

    @flow(persist_result=False)
    def submit_all(kind: str) -> list[tuple[float, float]]:
        out = []
        with make_runner(kind) as runner:
            for _ in range(rounds):
                c0, t0 = cpu_s(), time.perf_counter()
                futures = [runner.submit(batch, {"items": ITEMS, "index": i}) for i in range(tasks)]
                results = sorted(f.result() for f in as_completed(futures))
                if results != [16 + i for i in range(tasks)]:
                    raise SystemExit(f"{kind}: wrong results {results[:5]}...")
                out.append(((cpu_s() - c0) / tasks * 1000, time.perf_counter() - t0))
        return out

    per_task: dict[str, list[float]] = {"ours": [], "prefect_dask": [], "threads": []}
    walls: dict[str, list[float]] = {kind: [] for kind in per_task}
    # a Prefect server of its own (a temporary database); the flow under settings of its own, as in a
    # flow-run process
    with prefect_test_harness(server_startup_timeout=180), \
            temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        for kind in ("ours", "prefect_dask", "threads", "prefect_dask", "ours", "threads"):
            rounds_of = submit_all(kind)[1:]
            per_task[kind] += [ms for ms, _ in rounds_of]
            walls[kind] += [wall for _, wall in rounds_of]
            print(f"{kind:13s} CPU per task " + " ".join(f"{ms:6.1f}" for ms, _ in rounds_of) + " ms", flush=True)
    med = {kind: statistics.median(v) for kind, v in per_task.items()}
    wall = {kind: statistics.median(v) for kind, v in walls.items()}
    print(f"bench=dask_submit tasks={tasks} rounds={rounds} ours_cpu_ms_per_task={med['ours']:.1f} "
          f"prefect_dask_cpu_ms_per_task={med['prefect_dask']:.1f} threads_cpu_ms_per_task={med['threads']:.1f} "
          f"ours_wall_s={wall['ours']:.2f} prefect_dask_wall_s={wall['prefect_dask']:.2f} "
          f"threads_wall_s={wall['threads']:.2f} ratio={med['ours'] / med['prefect_dask']:.2f}")


if __name__ == "__main__":
    main()
