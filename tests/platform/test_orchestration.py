"""Orchestration at plain-call cost (issue 22): files in batches, one commit per technique and run, the
write lock only around the manifest swap, and the Prefect API a CLI run uses.

The mechanisms are tested, not the time: a run that commits once per file chunk again, a flow that
creates a task per file again, or a commit that writes data files under the lock fails here.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import threading

import pandas as pd
import pytest
import yaml

from foundation.config import load_campaign
from schemas import platform as P
from tasks import batches, pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse import store
from warehouse.store import Warehouse

#: more files of one technique than the old 32-file commit chunk: two commits before, one now
N_FILES = 40


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def _many_files(tmp_path, batch_size: int = 16):
    cfg = toy_campaign(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    data["execution"] = {"batch_size": batch_size, "max_workers": 2}
    cfg.write_text(yaml.safe_dump(data))
    for i in range(N_FILES):
        write_csv(tmp_path / f"share/S{1 + i % 2}/f{i:02d}.csv", [(i, i + 1)])
    return cfg


def _toy_commits(wh: Warehouse, table: str = "toy_values") -> int:
    """Manifest versions that changed ``table`` (the toy technique's rows by default), counted from the
    versions kept on disk."""
    versions = sorted((wh.fs.glob(wh._abs("manifests/*.json"))))
    changed, before = 0, None
    for path in versions:
        tables = json.loads(wh.fs.cat_file(path))["tables"]
        now = sorted(e["path"] for e in tables.get(table, []))
        changed += now != before and bool(now)
        before = now
    return changed


# ------------------------------------------------------------------------------------------ batches
def test_split_fills_batches_evenly_and_gives_every_worker_one():
    items = list(range(40))
    assert [len(b) for b in batches.split(items, 16, 2)] == [14, 13, 13]  # ceil(40 / 16) = 3 batches
    assert [len(b) for b in batches.split(items[:5], 16, 2)] == [3, 2]   # fewer files than a batch: 2 workers
    assert [len(b) for b in batches.split(items[:1], 16, 2)] == [1]
    assert batches.split([], 16, 2) == []
    assert sum(batches.split(items, 7, 3), []) == items                  # every file once, in order


def test_batch_size_is_a_validated_execution_setting(tmp_path):
    cfg = toy_campaign(tmp_path)
    assert load_campaign(cfg).execution.batch_size == 16
    data = yaml.safe_load(cfg.read_text())
    data["execution"] = {"batch_size": 0}
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match="batch_size"):
        load_campaign(cfg)


def test_a_run_commits_each_technique_once_and_keeps_every_file(tmp_path):
    cfg = _many_files(tmp_path)
    _, summary = pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert summary.processed == N_FILES
    assert len(wh.query("select distinct raw_sha256 from toy_values")) == N_FILES
    assert _toy_commits(wh) == 1


def test_a_backfill_still_commits_in_chunks(tmp_path):
    """commit_every (the backfill's chunk): a long run that stops keeps what it committed."""
    cfg = _many_files(tmp_path)
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    pipeline.register_campaign(campaign, wh)
    pipeline.intake(campaign, wh)
    todo = pipeline.pending_work(campaign, wh, "toy")
    pipeline.process_items(wh, "toy", todo, None, pipeline.threaded(campaign, wh.url, None, 2),
                           pipeline.ProcessSummary(), commit_every=16)
    assert _toy_commits(wh) == 3  # 16 + 16 + 8 (S1 and S2 are one phase: samples' files)


# ------------------------------------------------------------------------------------------ commit lock
class GuardSpy:
    """A commit guard that records whether a data file is written while it is held."""

    def __init__(self):
        self.held = False
        self.written_inside: list[str] = []
        self.written_outside: list[str] = []
        self.entered = 0

    @contextlib.contextmanager
    def __call__(self):
        self.held, self.entered = True, self.entered + 1
        try:
            yield
        finally:
            self.held = False

    def watch(self, monkeypatch):
        write = Warehouse.write_parquet

        def spy(wh, table, rel):
            (self.written_inside if self.held else self.written_outside).append(rel)
            return write(wh, table, rel)

        monkeypatch.setattr(Warehouse, "write_parquet", spy)


def _sightings(share: str, n: int) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame([{"campaign": "c", "share": share, "path": f"p{i}", "raw_sha256": f"{i:064d}", "size_bytes": 1,
                          "mtime": now, "first_seen": now, "superseded_at": None} for i in range(n)])


def test_the_commit_lock_is_not_held_while_files_are_written(tmp_path, monkeypatch):
    cfg = _many_files(tmp_path)
    spy = GuardSpy()
    spy.watch(monkeypatch)
    monkeypatch.setattr(pipeline, "open_warehouse", lambda c: _guarded(Warehouse(c.resolve(c.storage.warehouse)), spy))
    pipeline.run_local(cfg)
    assert spy.entered >= 4 and spy.written_outside  # register, intake, toy, finalize... each committed
    assert spy.written_inside == []


def _guarded(wh: Warehouse, guard) -> Warehouse:
    wh.commit_guard = guard
    return wh


def test_an_upsert_committed_meanwhile_is_merged_under_the_lock(tmp_path):
    """Two committers upsert the same table: the second merged on a manifest the first has replaced since;
    under the lock it sees that and merges again, so no row of either is lost."""
    url = str(tmp_path / "wh")
    first, second = Warehouse(url), Warehouse(url)
    tx1, tx2 = first.transaction("one"), second.transaction("two")
    tx1.upsert(P.SIGHTINGS, _sightings("a", 3))
    tx2.upsert(P.SIGHTINGS, _sightings("b", 2))

    @contextlib.contextmanager
    def the_other_commits_first():  # tx2 has merged outside the lock; tx1 lands before tx2 takes it
        tx1.commit()
        yield

    second.commit_guard = the_other_commits_first
    tx2.commit()
    rows = Warehouse(url).query("select share, count(*) as n from sightings group by 1 order by 1")
    assert rows.to_dict("records") == [{"share": "a", "n": 3}, {"share": "b", "n": 2}]
    assert Warehouse(url).manifest().version == 2


def test_a_commit_with_nothing_new_changes_no_version(tmp_path):
    url = str(tmp_path / "wh")
    wh = Warehouse(url)
    for _ in range(2):
        tx = wh.transaction("x")
        tx.upsert(P.SIGHTINGS, _sightings("a", 2))
        tx.commit()
    assert wh.manifest().version == 1
    assert store._paths(wh.manifest().tables)["sightings"] == store._paths(Warehouse(url).manifest().tables)["sightings"]


# ------------------------------------------------------------------------------------------ which API
class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server interface
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    home = tmp_path / "prefect-home"
    home.mkdir()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api"
    (home / "state.json").write_text(json.dumps({"api_url": url}))
    yield home, url
    httpd.shutdown()


@pytest.fixture
def clean_env(monkeypatch):
    """No Prefect settings before; after, the environment as it was: choose_api writes os.environ itself,
    and an embedded API's settings left behind would switch off the scheduler of a later test's server."""
    import os

    from socscope.server import EMBEDDED_MARK

    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("PREFECT_")] + ["SOCSCOPE_PREFECT_HOME", EMBEDDED_MARK]:
        monkeypatch.delenv(key, raising=False)
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)


def test_a_running_server_is_used_instead_of_an_embedded_api(fake_server, clean_env, tmp_path):
    import os

    from socscope.prefect_api import choose_api

    home, url = fake_server
    clean_env.setenv("SOCSCOPE_PREFECT_HOME", str(home))
    assert choose_api(tmp_path / ".prefect") == url
    assert os.environ["PREFECT_API_URL"] == url
    assert "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED" not in os.environ  # no embedded API to trim


def test_without_a_server_the_embedded_api_starts_without_its_services(clean_env, tmp_path):
    import os

    from socscope.prefect_api import EMBEDDED_SERVICES_OFF, choose_api

    clean_env.setenv("SOCSCOPE_PREFECT_HOME", str(tmp_path / "no-server-here"))
    assert choose_api(tmp_path / ".prefect") == "embedded"
    assert "PREFECT_API_URL" not in os.environ and os.environ["PREFECT_HOME"] == str(tmp_path / ".prefect")
    assert os.environ["PREFECT_API_BLOCKS_REGISTER_ON_START"] == "false"
    for name in EMBEDDED_SERVICES_OFF:
        assert os.environ[f"PREFECT_SERVER_SERVICES_{name}_ENABLED"] == "false"
    assert "TASK_RUN_RECORDER" not in EMBEDDED_SERVICES_OFF  # task runs still reach the database


def test_a_server_started_after_an_embedded_api_keeps_its_services(clean_env, tmp_path):
    """`socscope server up` from a process whose embedded API switched services off (a test session, a
    notebook) still schedules: its environment drops what the embedded API set, not what the user set."""
    import os

    from socscope import server
    from socscope.prefect_api import choose_api

    clean_env.setenv("SOCSCOPE_PREFECT_HOME", str(tmp_path / "no-server-here"))
    clean_env.setenv("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "false")  # the user's own choice
    assert choose_api(tmp_path / ".prefect") == "embedded"
    assert os.environ["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] == "false"
    env = server.prefect_environment(tmp_path / "home", 4999)
    assert "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED" not in env and "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED" not in env
    assert env["PREFECT_UI_ENABLED"] == "true" and "PREFECT_API_BLOCKS_REGISTER_ON_START" not in env
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] == "false"


def test_a_server_that_does_not_answer_is_not_used(fake_server, clean_env, tmp_path):
    from socscope.prefect_api import choose_api

    home, _ = fake_server
    (home / "state.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9/api"}))  # nothing listens
    clean_env.setenv("SOCSCOPE_PREFECT_HOME", str(home))
    assert choose_api(tmp_path / ".prefect") == "embedded"


# ------------------------------------------------------------------------------------------ on Prefect
@pytest.mark.slow
def test_a_flow_runs_a_task_per_batch_and_commits_once(prefect_api, tmp_path):
    """The task runs of a campaign run: its intake, the one that stands for its `process` subflow, one
    per batch, one for the cross-file step."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows._ops import run_family
    from flows.campaign import campaign_flow

    cfg = _many_files(tmp_path, batch_size=16)
    state = campaign_flow(str(cfg), return_state=True)
    assert state.is_completed(), state
    assert state.result()["process"]["processed"] == N_FILES
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert _toy_commits(wh) == 1
    run_ids = run_family(str(state.state_details.flow_run_id))
    names: list[str] = []
    with get_client(sync_client=True) as client:
        for _ in range(60):  # task runs reach the database through events: wait for them
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)))
            names = sorted(r.name.split("-")[0] if r.name.startswith("finalize") else r.name for r in runs)
            if len(names) >= 6:
                break
            import time

            time.sleep(1)
    # 40 files, batches of <= 16
    assert names == ["finalize_task", "intake", "process-0", "toy-batch-0", "toy-batch-1", "toy-batch-2"], names


def test_a_new_embedded_home_gets_the_migrated_database_and_an_old_one_keeps_its_own(clean_env, tmp_path):
    """The migrated copy is made once per Prefect version (here put in place by hand: making it runs
    Prefect's migrations, ~30 s); a home with a database of its own is never overwritten."""
    from importlib.metadata import version

    from socscope.prefect_api import DATABASE, seed_database

    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template = tmp_path / "cache" / "socscope" / f"prefect-{version('prefect')}-empty.db"
    template.parent.mkdir(parents=True)
    template.write_bytes(b"migrated")
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir(), old.mkdir()
    (old / DATABASE).write_bytes(b"run history")
    seed_database(new)
    seed_database(old)
    assert (new / DATABASE).read_bytes() == b"migrated"
    assert (old / DATABASE).read_bytes() == b"run history"
    assert not list(new.glob(".*.tmp"))


# ------------------------------------------------------------------------------------------ embedded API
def test_the_embedded_api_listens_before_it_answers_and_a_dead_one_is_reported(clean_env, monkeypatch):
    """The URL is known and its port taken as the child starts (requests wait for it instead of failing,
    so the run can go on meanwhile); a child that stops before answering is an error naming its code."""
    import socket

    from socscope import prefect_api

    monkeypatch.setattr(prefect_api, "SERVE", "import time; time.sleep(60)")  # starts, never answers
    api = prefect_api.EmbeddedAPI.start()
    try:
        port = int(api.url.split(":")[-1].split("/")[0])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # listening already: bound here
        assert api.alive() and not api.answers()
    finally:
        api.stop()
    assert not api.alive()
    monkeypatch.setattr(prefect_api, "SERVE", "import sys; sys.exit(3)")
    dead = prefect_api.EmbeddedAPI.start()
    with pytest.raises(RuntimeError, match="exit code 3"):
        dead.wait(timeout_s=60)


@pytest.mark.slow
def test_a_cli_run_on_the_embedded_api_does_not_import_prefects_server(tmp_path):
    """The client reaches the embedded API at the URL set before Prefect's import, so Prefect's own
    ephemeral start (which imports its server, FastAPI and SQLAlchemy into the client) never runs."""
    import os
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from socscope import prefect_api as p\n"
        f"assert p.choose_api(Path({str(tmp_path / '.prefect')!r})) == 'embedded'\n"
        "api = p.start_embedded(); p.wait_for_api()\n"
        "from prefect.client.orchestration import get_client\n"
        "with get_client(sync_client=True) as c: assert c.hello().status_code == 200 and str(c.api_url).startswith(api.url)\n"
        "print('server imported:', 'prefect.server.api.server' in sys.modules)\n"
        "api.stop(); print('stopped:', not api.alive())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", SOCSCOPE_PREFECT_HOME=str(tmp_path / "no-server"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "server imported: False" in done.stdout and "stopped: True" in done.stdout, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("api", ["embedded", "server"])
def test_the_cli_takes_the_files_while_prefect_is_imported_and_the_run_commits_them(prefect_api, tmp_path,
                                                                                    monkeypatch, api):
    """On either API, the CLI imports Prefect and the flows in another thread, started before it takes
    the shares' files into the raw store; before the run, every share's files are stored and nothing is
    committed; the run then commits them once, for both shares, under its own flow run (the refusal of
    an empty file carries the campaign run's id), without taking them again. The campaign run sends
    heartbeats on a server (which finds crashed runs by them) from a thread of ours, stopped when the
    run returns, none on an embedded API; Prefect's own (waited for at a run's end) are off on both."""
    import prefect.events
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    import socscope.cli
    import socscope.prefect_api
    from socscope.cli import main
    from tasks import intake as I

    beats: list[str] = []
    emit = prefect.events.emit_event

    def seen_emit(event, resource, **kw):  # the heartbeats our thread sends, and on to the API
        if event == "prefect.flow-run.heartbeat":
            beats.append((resource["prefect.resource.id"], threading.current_thread().name))
        return emit(event=event, resource=resource, **kw)

    monkeypatch.setattr(prefect.events, "emit_event", seen_emit)
    cfg = toy_campaign(tmp_path, extra_share=True)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share2/S2/b.csv", [(3, 4)])
    (tmp_path / "share/S2").mkdir()
    (tmp_path / "share/S2/empty.csv").write_text("")  # refused by intake: an event of the run
    stored: list[str] = []
    store = I.store_candidate
    monkeypatch.setattr(I, "store_candidate", lambda cand, *a, **k: stored.append(cand.rel_path) or store(cand, *a, **k))
    at_wait: dict = {}
    importing = threading.Event()
    flow_imports, prepare = socscope.cli._flow_imports, pipeline.prepare_intake

    def imports_in_a_thread():
        at_wait["imports_off_main"] = threading.current_thread() is not threading.main_thread()
        importing.set()
        return flow_imports()

    def prepare_on_main(*args, **kwargs):
        at_wait["imports_began_first"] = importing.wait(60)
        at_wait["intake_on_main"] = threading.current_thread() is threading.main_thread()
        return prepare(*args, **kwargs)

    def wait_for_api() -> None:
        wh = pipeline.open_warehouse(load_campaign(cfg))
        at_wait.update(stored=sorted(stored), committed=sorted(wh.manifest().tables))

    heartbeats = []  # none for an embedded API: nothing can read them, and each flow run waits for its thread
    log_run = pipeline.log_run
    monkeypatch.setattr(pipeline, "log_run", lambda *a, **k: heartbeats.append(
        get_current_settings().flows.heartbeat_frequency) or log_run(*a, **k))
    monkeypatch.setattr(pipeline, "prepare_intake", prepare_on_main)
    monkeypatch.setattr(socscope.cli, "_flow_imports", imports_in_a_thread)
    # the test API stands in for either
    monkeypatch.setattr(socscope.cli, "prefect_env", lambda home: "embedded" if api == "embedded" else "http://test-api")
    monkeypatch.setattr(socscope.prefect_api, "wait_for_api", wait_for_api)
    assert main(["run", "--config", str(cfg)]) == 0
    assert heartbeats == [None]
    assert not [t for t in threading.enumerate() if t.name == "heartbeat"]  # stopped with the run
    assert at_wait["imports_off_main"] and at_wait["imports_began_first"] and at_wait["intake_on_main"]
    assert at_wait["stored"] == ["S1/a.csv", "S2/b.csv"]
    assert not {"raw_files", "sightings", "ingest_events"} & set(at_wait["committed"]), at_wait
    assert sorted(stored) == ["S1/a.csv", "S2/b.csv"]  # taken once
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert len(wh.query("select * from raw_files")) == 2 and _toy_commits(wh, "raw_files") == 1
    refused = wh.query("select flow_run_id from ingest_events where stage = 'intake' and status = 'refused'")
    assert len(refused) == 1
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(refused.flow_run_id[0])
        assert client.read_flow(run.flow_id).name == "campaign" and run.state.is_completed()
    expected = [(f"prefect.flow-run.{run.id}", "heartbeat")]
    assert beats == ([] if api == "embedded" else expected)


def test_the_modules_a_cli_run_uses_before_its_flow_do_not_import_prefect():
    """What the CLI runs before the flow (the campaign, the warehouse with the flows' guard, the intake)
    imports no Prefect, so that Prefect's imports (~1.5-2 s) can go on beside the intake."""
    import os
    import subprocess
    import sys

    script = ("import sys, socscope.cli, flows._runtime, tasks.pipeline, tasks.nothing_new\n"
              "print('prefect imported:', sorted(m for m in sys.modules if m.split('.')[0] == 'prefect')[:3])\n")
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "prefect imported: []" in done.stdout, done.stdout


# ------------------------------------------------------------------------------------------ per-run bookkeeping
def test_a_progress_artifact_is_written_at_most_every_interval_and_at_the_last_step(monkeypatch):
    """Every step reaches this process's listeners (the terminal's bars); the server gets the first step,
    then at most one write per PROGRESS_EVERY_S, and the last step whatever the time."""
    import prefect.artifacts

    from flows import _ops
    from foundation.progress import listening

    writes: list[tuple[str, float]] = []
    monkeypatch.setattr(prefect.artifacts, "create_progress_artifact", lambda pct, description: writes.append(("create", pct)) or "id")
    monkeypatch.setattr(prefect.artifacts, "update_progress_artifact", lambda id_, pct, description: writes.append(("update", pct)))
    now = [0.0]
    heard: list[int] = []
    reporter = _ops.ProgressReporter("toy", clock=lambda: now[0])
    with listening(lambda label, done, total, current="": heard.append(done)):
        for done in range(11):
            reporter("process toy", done, 10)
            now[0] += _ops.PROGRESS_EVERY_S / 4
    assert heard == list(range(11))
    assert writes == [("create", 0.0), ("update", 40.0), ("update", 80.0), ("update", 100.0)]


def test_a_local_warehouse_commits_under_its_file_lock_and_an_object_store_under_the_prefect_slot(tmp_path, monkeypatch):
    """A commit to a local warehouse asks Prefect for nothing (its file lock serialises committers); one
    to a warehouse without a file lock takes the global concurrency slot, and fails without it."""
    import prefect.concurrency.sync

    from flows import _runtime

    def no_slot(*args, **kwargs):
        raise RuntimeError("asked for the write slot")

    monkeypatch.setattr(prefect.concurrency.sync, "concurrency", no_slot)
    local = _runtime.guarded_warehouse(load_campaign(toy_campaign(tmp_path)))
    tx = local.transaction("run")
    tx.upsert(P.SIGHTINGS, _sightings("a", 1))
    assert tx.commit().version >= 1
    remote = _runtime._with_guard(Warehouse(f"memory://{tmp_path.name}/wh"))
    tx = remote.transaction("run")
    tx.upsert(P.SIGHTINGS, _sightings("a", 1))
    with pytest.raises(RuntimeError, match="write slot"):
        tx.commit()


def test_a_technique_without_a_cross_file_step_gets_no_finalize_task(monkeypatch):
    from types import SimpleNamespace

    from flows import process

    tasks_run: list[str] = []
    monkeypatch.setattr(process, "finalize_task", lambda loaded, name, run_id, force=False: tasks_run.append(name) or 7)
    monkeypatch.setattr(process, "technique", lambda name: SimpleNamespace(finalize=None if name == "plain" else len))
    assert process.finalize(None, "plain", "run") == 0
    assert process.finalize(None, "crossed", "run") == 7
    assert tasks_run == ["crossed"]


@pytest.mark.slow
def test_the_process_subflow_runs_without_heartbeats_of_its_own(prefect_api, tmp_path, monkeypatch):
    """The campaign run keeps its heartbeat (a server can find it crashed); its process subflow, in the
    same process, has none (each flow run with one waits up to a second at its end for its thread)."""
    from prefect.settings import get_current_settings

    from flows.campaign import campaign_flow

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    seen: dict[str, object] = {}
    process, log_run = pipeline.process_techniques, pipeline.log_run

    def spy(step, fn):
        def call(*args, **kwargs):
            seen[step] = get_current_settings().flows.heartbeat_frequency
            return fn(*args, **kwargs)
        return call

    monkeypatch.setattr(pipeline, "process_techniques", spy("process", process))
    monkeypatch.setattr(pipeline, "log_run", spy("campaign", log_run))
    assert campaign_flow(str(cfg), build_marts=False, return_state=True).is_completed()
    assert seen["process"] is None and seen["campaign"] == get_current_settings().flows.heartbeat_frequency
    assert seen["campaign"] is not None


@pytest.mark.slow
def test_a_share_error_before_the_run_leaves_the_intake_to_the_run(prefect_api, tmp_path, monkeypatch, capsys):
    """A share's I/O error while the embedded API starts is not the run's end: the run's intake task,
    which retries share errors, takes the files."""
    import socscope.cli
    import socscope.prefect_api
    from socscope.cli import main

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    prepare, calls = pipeline.prepare_intake, []

    def first_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error", "share/S1/a.csv")
        return prepare(*args, **kwargs)

    monkeypatch.setattr(pipeline, "prepare_intake", first_fails)
    monkeypatch.setattr(socscope.cli, "prefect_env", lambda home: "embedded")  # the test API stands in for it
    monkeypatch.setattr(socscope.prefect_api, "wait_for_api", lambda: None)
    assert main(["run", "--config", str(cfg)]) == 0
    assert "the run takes them, with retries" in capsys.readouterr().out and len(calls) == 2
    assert len(pipeline.open_warehouse(load_campaign(cfg)).query("select * from toy_values")) == 1
