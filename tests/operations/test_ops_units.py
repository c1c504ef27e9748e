"""Plain functions behind the operations flows and `socscope server`, without a server."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flows import _ops
from foundation.config import load_campaign
from socscope import server
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.store import FileEntry, Manifest


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def test_late_policy_skips_only_runs_later_than_the_limit():
    now = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)
    assert not _ops.too_late(None, 600, now)  # a manual run has no schedule to miss
    assert not _ops.too_late(now - timedelta(minutes=9), 600, now)
    assert _ops.too_late(now - timedelta(minutes=11), 600, now)
    assert not _ops.too_late(now - timedelta(days=1), None, now)  # no limit: always run
    assert _ops.lateness_seconds(now + timedelta(minutes=1), now) == 0


def test_select_work_filters_samples_and_forces_recomputation(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share/S2/b.csv", [(3, 4)])
    write_csv(tmp_path / "share/references/std.csv", [(0, 0)])
    campaign = load_campaign(cfg)
    pipeline.run_local(campaign)
    wh = pipeline.open_warehouse(campaign)
    assert _ops.select_work(campaign, wh, "toy") == []  # everything done with these parameters
    every = _ops.select_work(campaign, wh, "toy", force=True)
    assert sorted(w.original_name for w in every) == ["a.csv", "b.csv", "std.csv"]
    only = _ops.select_work(campaign, wh, "toy", samples=["S2*"], force=True)
    assert [w.sample_id for w in only] == ["S2"]


def test_reprocess_with_another_parameter_version_keeps_the_current_one_active(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    (tmp_path / "toy_v2.yaml").write_text("name: toy-default\nversion: 2\nscale: {factor: 3}\n")
    campaign = load_campaign(cfg)
    pipeline.run_local(campaign)
    wh = pipeline.open_warehouse(campaign)
    other = _ops.with_params(campaign, "toy", "toy_v2.yaml")
    new_id = _ops.record_param_set(other, wh, "toy", active=False, flow_run_id="t")
    assert new_id.startswith("toy-default@2#")
    todo = _ops.select_work(other, wh, "toy")
    assert [w.original_name for w in todo] == ["a.csv"]  # not yet computed with version 2
    results = [pipeline.process_file(w, other, wh.url, "t") for w in todo]
    pipeline.commit_results(wh, results, "t")
    both = wh.query("select params_id, y_v from toy_values order by y_v").values.tolist()
    assert [y for _, y in both] == [4.0, 6.0]  # both versions coexist
    current = wh.query("select y_v from current_toy_values").y_v.tolist()
    assert current == [4.0]  # the config's version stays the current one


def test_rows_written_counts_only_the_files_a_run_added():
    before = Manifest(1, {"t": [FileEntry("data/t/a.parquet", "u1", 5)]})
    after = Manifest(2, {"t": [FileEntry("data/t/a.parquet", "u1", 5), FileEntry("data/t/b.parquet", "u2", 7)],
                         "s": [FileEntry("data/s/c.parquet", "u3", 1)]})
    assert _ops.rows_written(before, after) == [
        {"table": "s", "new_files": 1, "rows_written": 1, "rows_now": 1},
        {"table": "t", "new_files": 1, "rows_written": 7, "rows_now": 12}]


def test_prefect_yaml_declares_every_deployment_and_policy():
    project = server.load_prefect_file()
    deps = {d["name"]: d for d in project["deployments"]}
    assert set(deps) == {"watch-share", "nightly", "reprocess", "backfill", "retry", "ignore", "unignore"}
    for name in ("retry", "ignore", "unignore"):
        assert set(deps[name]["parameters"]) - {"config"} <= set(_flow_parameters(deps[name]["entrypoint"]))
    assert deps["nightly"]["schedules"][0] == {"cron": "30 1 * * *", "timezone": "Europe/Berlin"}
    assert deps["watch-share"]["schedules"][0]["interval"] <= 900  # each run watches most of it (test_watch.py)
    assert deps["watch-share"]["concurrency_limit"]["collision_strategy"] == "CANCEL_NEW"
    assert set(deps["reprocess"]["parameters"]) >= {"technique", "params", "samples"}
    assert all(d["work_pool"]["name"] == "socscope-process" for d in deps.values())
    limits = {g["name"]: g["limit"] for g in project["socscope"]["global_concurrency_limits"]}
    from flows._runtime import WRITE_LIMIT

    assert limits == {WRITE_LIMIT: 1}
    expanded = server.expand_watchers(project, ["afm-lab", "i11"])
    names = [d["name"] for d in expanded["deployments"]]
    assert names[:2] == ["watch-afm-lab", "watch-i11"] and "watch-share" not in names
    assert expanded["deployments"][1]["parameters"]["share"] == "i11"
    assert "socscope" not in expanded  # Prefect sees only its own keys


def test_down_never_signals_a_process_it_did_not_start(tmp_path):
    import subprocess
    import sys

    state = server.ServerState(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    state.record("worker-1", proc)
    # a stale pid file whose pid now belongs to someone else (start time differs) is left alone
    state.pids.joinpath("server.pid").write_text('{"pid": %d, "start": "0", "cmd": []}' % proc.pid)
    assert server.down(tmp_path, log=lambda *_: None) == ["worker-1"]
    assert proc.wait(timeout=10) != 0
    assert not list(state.pids.glob("*.pid"))


def _flow_parameters(entrypoint: str) -> list[str]:
    """The parameters a deployment's flow takes (a deployment parameter it does not take fails every run)."""
    import importlib
    import inspect

    module, _, name = entrypoint.partition(":")
    fn = getattr(importlib.import_module(module.replace("/", ".").removesuffix(".py")), name)
    return list(inspect.signature(fn.fn).parameters)
