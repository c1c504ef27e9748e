"""The long-lived share watcher (tasks/share_watch.py, flows/watch.py): what a poll takes, and that a run keeps polling.

The fast tests drive ShareWatch and watch_loop without Prefect; the slow one runs the watcher flow on
a real Prefect API: a file that appears while the run watches is processed by the same run.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from foundation.campaign import Share
from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def settled(path: Path) -> Path:
    os.utime(path, (HOUR_AGO, HOUR_AGO))  # as a file renamed into place after it was written long ago
    return path


def _watch(cfg):
    from tasks.share_watch import ShareWatch

    campaign = load_campaign(cfg)
    return ShareWatch.start(campaign.shares[0], campaign, pipeline.open_warehouse(campaign)), campaign


def test_a_poll_finds_only_files_not_handled_and_never_one_still_being_written(tmp_path):
    cfg = toy_campaign(tmp_path, settle_seconds=60)
    settled(write_csv(tmp_path / "share/S1/a.csv", [(1, 2)]))
    watch, campaign = _watch(cfg)
    new, pending = watch.look()
    assert [c.rel_path for c in new] == ["S1/a.csv"] and pending == []
    watch.took(new, [])
    assert watch.look() == ([], [])  # handled: the next poll runs no intake
    growing = write_csv(tmp_path / "share/S2/b.csv", [(3, 4)])  # mtime now: still being written
    new, pending = watch.look()
    assert new == [] and [c.rel_path for c in pending] == ["S2/b.csv"]
    settled(growing)
    new, _ = watch.look()
    assert [c.rel_path for c in new] == ["S2/b.csv"]
    watch.took(new, ["lab:S2/b.csv"])  # intake found it changing under the hash: look again next poll
    assert [c.rel_path for c in watch.look()[0]] == ["S2/b.csv"]
    settled(write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (5, 6)]))  # replaced under the same name
    assert "S1/a.csv" in {c.rel_path for c in watch.look()[0]}


def test_a_new_run_knows_what_the_warehouse_holds(tmp_path):
    cfg = toy_campaign(tmp_path)
    settled(write_csv(tmp_path / "share/S1/a.csv", [(1, 2)]))
    pipeline.run_local(cfg)
    watch, _ = _watch(cfg)
    assert watch.look() == ([], [])  # taken by an earlier run: no intake on this run's polls
    settled(write_csv(tmp_path / "share/S1/c.csv", [(7, 8)]))
    assert [c.rel_path for c in watch.look()[0]] == ["S1/c.csv"]


def test_a_share_gone_for_a_moment_does_not_end_the_watch(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    settled(write_csv(tmp_path / "share/S1/a.csv", [(1, 2)]))
    watch, _ = _watch(cfg)
    (tmp_path / "share").rename(tmp_path / "away")  # an unmounted share
    assert watch.look() == ([], []) and watch.look() == ([], [])
    assert capsys.readouterr().out.count("unreachable") == 1  # said once, not on every poll
    (tmp_path / "away").rename(tmp_path / "share")
    assert [c.rel_path for c in watch.look()[0]] == ["S1/a.csv"]


def test_watch_loop_polls_every_interval_until_its_window_ends():
    now = [100.0]
    calls = []

    def poll(first):
        calls.append((now[0], first))
        now[0] += 0.4  # a poll's own work

    polls = _loop(poll, now, seconds=10, every=2)
    assert polls == 5 and [t for t, _ in calls] == [100.0, 102.0, 104.0, 106.0, 108.0]
    assert [f for _, f in calls] == [True, False, False, False, False]
    now[0], calls[:] = 0.0, []
    assert _loop(poll, now, seconds=0, every=2) == 1  # watch_seconds 0: one pass, as a one-shot run


def _loop(poll, now, seconds, every):
    from tasks.share_watch import watch_loop

    def sleep(s):
        now[0] += s

    return watch_loop(poll, seconds, every, clock=lambda: now[0], sleep=sleep)


def test_the_window_is_bounded_and_shrinks_for_a_late_run():
    from datetime import datetime, timedelta, timezone

    from flows.watch import MAX_WATCH_SECONDS, window_seconds

    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    assert window_seconds(840, None, now) == 840
    assert window_seconds(840, now - timedelta(seconds=100), now) == 740  # ends before the next slot
    assert window_seconds(840, now - timedelta(seconds=900), now) == 0
    with pytest.raises(ValueError, match="watch_seconds"):
        window_seconds(MAX_WATCH_SECONDS + 1, None, now)


@pytest.mark.parametrize("field, value", [("settle_seconds", -1), ("settle_seconds", 86401),
                                          ("poll_seconds", 0.5), ("poll_seconds", 3601)])
def test_settle_and_poll_settings_are_validated(field, value):
    base = {"name": "lab", "url": "share", "technique": "toy", "mapping": {"path_pattern": "^(?P<sample>[^/]+)/"}}
    assert Share(**base).settle_seconds == 60 and Share(**base).poll_seconds == 5
    with pytest.raises(ValidationError, match=field):
        Share(**base, **{field: value})


def test_the_deployed_watcher_watches_most_of_its_interval_and_hands_over_before_the_next_slot():
    from socscope import server

    dep = next(d for d in server.load_prefect_file()["deployments"] if d["name"] == "watch-share")
    interval, watch = dep["schedules"][0]["interval"], dep["parameters"]["watch_seconds"]
    # the worker submits a run up to its prefetch (10 s) + query interval (10 s) early: a run still
    # watching then would get the next one cancelled (CANCEL_NEW), a whole interval without a watcher
    assert 0.9 * interval <= watch <= interval - 45
    assert dep["concurrency_limit"]["collision_strategy"] == "CANCEL_NEW"


@pytest.mark.slow
def test_a_file_that_appears_while_a_watcher_runs_is_processed_by_that_run(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.watch import watch_share_flow

    cfg = toy_campaign(tmp_path, settle_seconds=3600, poll_seconds=1)
    settled(write_csv(tmp_path / "share/S1/a.csv", [(1, 2)]))
    wh = pipeline.open_warehouse(load_campaign(cfg))

    def arrive_later():  # once the first poll committed a.csv's rows, a second file arrives, then one being written
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _rows(wh, 1):
            time.sleep(0.2)
        settled(write_csv(tmp_path / "share/S2/b.csv", [(3, 4)]))
        write_csv(tmp_path / "share/S2/growing.csv", [(5, 6)])

    writer = threading.Thread(target=arrive_later)
    writer.start()
    state = watch_share_flow(str(cfg), "lab", watch_seconds=30, return_state=True)
    writer.join()
    assert state.is_completed(), state
    result = state.result()
    watch_run = str(state.state_details.flow_run_id)
    assert result["polls"] > 2 and result["intake"]["new_files"] == 2 and len(result["process"]) == 2
    rows = wh.query("select x_m, flow_run_id from toy_values order by x_m")
    assert rows.x_m.tolist() == [1, 3]  # growing.csv (mtime fresh, settle 1 h) was never taken
    with get_client(sync_client=True) as client:  # b.csv was processed under the same watcher run
        parents = {_root(client, r) for r in rows.flow_run_id}
    assert parents == {watch_run}


def _rows(wh, n: int) -> bool:
    try:
        return len(wh.query("select * from toy_values")) >= n
    except Exception:  # no table before the first commit
        return False


def _root(client, run_id: str) -> str:
    """The top flow run above ``run_id`` (through the subflows' parent task runs)."""
    run = client.read_flow_run(run_id)
    while run.parent_task_run_id is not None:
        run = client.read_flow_run(client.read_task_run(run.parent_task_run_id).flow_run_id)
    return str(run.id)
