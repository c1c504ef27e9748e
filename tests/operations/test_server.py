"""End to end on a real Prefect server on loopback: `socscope server up`, deployments triggered through
the API, a process worker, concurrent runs, and a worker killed in the middle of a write.

One server for the module (start-up costs 10-27 s on this machine).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from foundation.config import load_campaign
from socscope import server
from tasks import pipeline
from tests.operations.conftest import free_port
from tests.support.toy_world import toy_campaign, write_csv

pytestmark = pytest.mark.slow

PLUGIN = "toy=tests.operations.slow_toy"


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    """A running server + worker on a toy campaign; yields (api_url, config path, server state)."""
    root = tmp_path_factory.mktemp("ops")
    cfg = toy_campaign(root)
    write_csv(root / "share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(root / "share/S2/b.csv", [(5, 6)])
    (root / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("SOCSCOPE_PLUGINS", PLUGIN)  # for the processes the server starts
    import foundation.registry as reg

    mp.setitem(reg.TECHNIQUE_MODULES, "toy", "tests.operations.slow_toy")  # for this one
    mp.setenv("PREFECT_WORKER_QUERY_SECONDS", "1")  # the worker polls every 10 s by default
    mp.setenv("PREFECT_UI_ENABLED", "false")
    home = root / "prefect"
    try:
        info = server.up(cfg, home, free_port(), workers=1)
        with client_for(info["api_url"]) as client:  # no scheduled watcher may commit during the tests
            client.pause_deployment(client.read_deployment_by_name("watch-share/watch-lab").id)
        yield info["api_url"], cfg, server.ServerState(home)
    finally:
        server.down(home)
        mp.undo()


def client_for(api_url):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    class _Client:
        def __enter__(self):
            self._settings = temporary_settings(updates={PREFECT_API_URL: api_url})
            self._settings.__enter__()
            self._client = get_client(sync_client=True)
            return self._client.__enter__()

        def __exit__(self, *exc):
            self._client.__exit__(*exc)
            self._settings.__exit__(*exc)

    return _Client()


def trigger(api_url: str, name: str, **parameters):
    with client_for(api_url) as client:
        dep = client.read_deployment_by_name(name)
        return client.create_flow_run_from_deployment(dep.id, parameters=parameters)


def wait_final(api_url: str, run_ids, timeout_s: float = 180.0):
    deadline = time.monotonic() + timeout_s
    with client_for(api_url) as client:
        while True:
            runs = [client.read_flow_run(r) for r in run_ids]
            if all(r.state and r.state.is_final() for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError([(r.name, r.state.name if r.state else None) for r in runs])
            time.sleep(1)


def warehouse(cfg):
    return pipeline.open_warehouse(load_campaign(cfg))


TOY_ONLY = {"techniques": ["toy"], "build_marts": False}


def test_up_creates_pool_limit_and_deployments(ops):
    api_url, cfg, state = ops
    info = server.status(state.home)
    assert info["api_healthy"] and all(p["running"] for p in info["processes"].values())
    assert set(info["processes"]) == {"server", "worker-1"}
    assert {"watch-lab", "nightly", "reprocess", "backfill", "retry", "ignore", "unignore"} <= set(info["deployments"])
    assert "socscope-process" in info["work_pools"]
    assert info["concurrency_limits"]["socscope-warehouse-write"]["limit"] == 1
    with client_for(api_url) as client:
        nightly = client.read_deployment_by_name("campaign/nightly")
        cron = nightly.schedules[0].schedule
        assert cron.cron == "30 1 * * *" and cron.timezone == "Europe/Berlin"
        assert nightly.parameters["config"] == str(cfg)
        watch = client.read_deployment_by_name("watch-share/watch-lab")
        assert watch.parameters["share"] == "lab" and watch.schedules[0].schedule.interval.total_seconds() == 900


def test_server_scheduler_creates_the_nightly_runs(ops):
    """The server's scheduler service turns the nightly cron into scheduled runs. Prefect 3.9.0 with
    SQLAlchemy 2.1 failed there on every pass ("Can't evaluate bulk DML statement", server.log), so no
    scheduled watcher or nightly run was ever created: pyproject pins SQLAlchemy below 2.1."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    api_url, _, state = ops
    deadline = time.monotonic() + 90
    with client_for(api_url) as client:
        nightly = client.read_deployment_by_name("campaign/nightly")
        while True:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])))
            scheduled = [r for r in runs if r.state and r.state.is_scheduled()]
            if scheduled or time.monotonic() > deadline:
                break
            time.sleep(2)
    log = (state.home / "logs" / "server.log").read_text(errors="replace")
    assert scheduled, "no scheduled nightly run after 90 s; server.log: " + log[-1500:]
    from zoneinfo import ZoneInfo

    berlin = [r.expected_start_time.astimezone(ZoneInfo("Europe/Berlin")) for r in scheduled]
    assert all((t.hour, t.minute) == (1, 30) for t in berlin), berlin
    assert "bulk DML" not in log


def test_campaign_deployment_completes_and_fills_the_warehouse(ops):
    api_url, cfg, _ = ops
    t0 = time.monotonic()
    run = trigger(api_url, "campaign/nightly", **TOY_ONLY)
    (done,) = wait_final(api_url, [run.id])
    assert done.state.is_completed(), done.state
    wh = warehouse(cfg)
    assert wh.query("select x_m, y_v from toy_values order by x_m").values.tolist() == [[1, 4], [3, 8], [5, 12]]
    assert wh.query("select count(*) n from quarantine").n[0] == 1
    assert set(wh.query("select distinct flow_run_id from flow_runs").flow_run_id) == {str(run.id)}
    with client_for(api_url) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        keys = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["campaign-summary", "campaign-rows-written", "campaign-quarantined",
                                        "campaign-validation"])))}
    assert keys == {"campaign-summary", "campaign-rows-written", "campaign-quarantined", "campaign-validation"}
    print(f"campaign deployment run: {time.monotonic() - t0:.1f} s")


def test_watcher_takes_new_files_and_skips_when_late(ops):
    from datetime import datetime, timedelta, timezone

    from prefect.states import Scheduled

    api_url, cfg, _ = ops
    write_csv(Path(cfg).parent / "share/S1/watched.csv", [(100, 1)])
    with client_for(api_url) as client:
        dep = client.read_deployment_by_name("watch-share/watch-lab")
        # a slot 20 minutes ago, e.g. while every worker was down: the policy skips it
        late = client.create_flow_run_from_deployment(
            dep.id, state=Scheduled(scheduled_time=datetime.now(timezone.utc) - timedelta(minutes=20)))
    (skipped,) = wait_final(api_url, [late.id])
    assert skipped.state.is_completed() and skipped.state.name == "Skipped", skipped.state
    # one at a time (a second watcher while one runs would be cancelled: CANCEL_NEW)
    (done,) = wait_final(api_url, [trigger(api_url, "watch-share/watch-lab", watch_seconds=0).id])  # one pass
    assert done.state.is_completed(), done.state
    wh = warehouse(cfg)
    assert wh.query("select count(*) n from toy_values where x_m = 100").n[0] == 1


def _no_duplicates(wh):
    dup_values = wh.query("select raw_sha256, x_m, count(*) n from toy_values group by 1, 2 having n > 1")
    dup_raw = wh.query("select raw_sha256, count(*) n from raw_files group by 1 having n > 1")
    dup_sight = wh.query("select share, path, count(*) n from sightings group by 1, 2 having n > 1")
    dup_summary = wh.query("select sample_id, count(*) n from toy_summary group by 1 having n > 1")
    return dup_values.empty and dup_raw.empty and dup_sight.empty and dup_summary.empty


def test_concurrent_campaign_runs_write_no_duplicates(ops):
    api_url, cfg, _ = ops
    root = Path(cfg).parent
    for i in range(4):
        write_csv(root / f"share/S{1 + i % 2}/new{i}.csv", [(10 + i, i), (20 + i, i)])
    # two nightly runs (the deployment queues the second) and a backfill, all at once
    runs = [trigger(api_url, "campaign/nightly", **TOY_ONLY), trigger(api_url, "campaign/nightly", **TOY_ONLY),
            trigger(api_url, "backfill/backfill", techniques=["toy"], build_marts=False)]
    final = wait_final(api_url, [r.id for r in runs], timeout_s=240)
    assert all(r.state.is_completed() for r in final), [(r.name, r.state) for r in final]
    wh = warehouse(cfg)
    assert _no_duplicates(wh)
    assert len(wh.query("select * from toy_values")) == 3 + 1 + 8
    assert wh.query("select sum(n_points) n from toy_summary").n[0] == 12


def test_worker_killed_mid_write_leaves_warehouse_unchanged(ops):
    api_url, cfg, state = ops
    wh = warehouse(cfg)
    manifest_before = wh.fs.cat_file(wh._abs("MANIFEST.json"))
    tables_before = {t: wh.query(f'select * from "{t}"') for t in wh.manifest().tables}
    data_before = set(wh.fs.find(wh._abs("data")))

    # swap the worker for a slow one (3 s per file), so that a forced reprocess writes data files
    # well before it commits them
    assert server.stop_process(state.processes()["worker-1"])
    env = server.prefect_environment(state.home, int(state.read()["port"]))
    env["SOCSCOPE_TOY_DELAY_S"] = "3"
    slow = server.start_worker(state, env, "socscope-process", 9)
    run = trigger(api_url, "reprocess/reprocess", technique="toy", force=True)
    deadline = time.monotonic() + 120
    while not (set(wh.fs.find(wh._abs("data"))) - data_before):
        assert time.monotonic() < deadline, "the reprocess run never wrote a data file"
        time.sleep(0.2)
    os.killpg(slow.pid, signal.SIGKILL)  # the worker and its flow-run process, mid-write
    slow.wait()
    (state.pids / "worker-9.pid").unlink()

    # the warehouse: readable, byte-identical manifest, the same rows; the orphans are invisible
    assert wh.fs.cat_file(wh._abs("MANIFEST.json")) == manifest_before
    for table, before in tables_before.items():
        assert wh.query(f'select * from "{table}"').equals(before), table
    assert set(wh.fs.find(wh._abs("data"))) - data_before

    # the server still thinks the killed run is Running: mark it Crashed as an operator would (or
    # Prefect's heartbeat-based zombie detection), which frees the deployment's concurrency slot
    from prefect.states import Crashed

    with client_for(api_url) as client:
        client.set_flow_run_state(run.id, Crashed(message="worker killed by the test"), force=True)
    server.start_worker(state, server.prefect_environment(state.home, int(state.read()["port"])),
                        "socscope-process", 1)
    again = trigger(api_url, "reprocess/reprocess", technique="toy", force=True)
    (done,) = wait_final(api_url, [again.id])
    assert done.state.is_completed(), done.state
    assert _no_duplicates(wh)
    after = wh.query("select * from toy_values order by x_m")
    assert len(after) == len(tables_before["toy_values"])
    assert set(after.flow_run_id) != set(tables_before["toy_values"].flow_run_id)  # really recomputed
