"""Every file is processed in a worker process under a time and a memory limit: a file that hangs or
allocates without end is stopped and quarantined with the limit named, the rest of the batch lands,
and the file is tried again only when the limits change. Reasons never carry a file's raw bytes.
Zero-length files leave an event and are taken once they have content."""
from __future__ import annotations

import time

import pytest
import yaml

from foundation.config import ConfigError, load_campaign
from foundation.contract import safe_reason
from tasks import isolation, pipeline
from tests.support import worker_env
from tests.support.toy_world import toy_campaign, write_csv

RAW = bytes(range(256)) * 40  # every byte value, 10 kB: what a binary header looks like as text


@pytest.fixture(autouse=True)
def _hostile(monkeypatch):
    import foundation.registry as reg

    monkeypatch.setattr(reg, "TECHNIQUE_MODULES", {"toy": "tests.support.hostile_toy"})


def _limits(cfg, **processing) -> None:
    data = yaml.safe_load(cfg.read_text())
    data["processing"] = processing
    data["execution"] = {"max_workers": 2}
    cfg.write_text(yaml.safe_dump(data))


def _hostile_share(tmp_path):
    cfg = toy_campaign(tmp_path)
    share = tmp_path / "share"
    write_csv(share / "S1/good1.csv", [(1, 2)])
    write_csv(share / "S2/good2.csv", [(3, 4)])
    (share / "S1/hang.csv").write_text("#toy-csv\n#hang\n1,2\n")
    (share / "S2/hog.csv").write_text("#toy-csv\n#hog\n1,2\n")
    (share / "S2/bytes.csv").write_bytes(b"#toy-csv\n#bytes\n" + RAW)
    return cfg


def _events(wh, stage="process"):
    df = wh.query(f"select original_name, status, reason, error_type, attempted_at from ingest_events "
                  f"where stage = '{stage}' order by original_name")
    return {r.original_name: r for r in df.itertuples()}


@pytest.mark.slow  # ~20 s: a worker stopped and started again
def test_a_hanging_and_a_hogging_file_are_stopped_and_the_batch_lands(tmp_path):
    cfg = _hostile_share(tmp_path)
    _limits(cfg, max_seconds_per_file=3, max_memory_mb_per_file=256)
    t0 = time.monotonic()
    _, summary = pipeline.run_local(cfg)
    assert time.monotonic() - t0 < 90  # the hanging file did not hold the run
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert sorted(wh.query("select y_v from toy_values").y_v) == [4.0, 8.0]  # both valid files landed
    ev = _events(wh)
    assert ev["hang.csv"].status == "quarantined" and ev["hang.csv"].error_type == "TimeLimitExceeded@3s/256MB"
    assert ev["hang.csv"].reason == (
        "reading 'hang.csv' took longer than 3 s (limit processing.max_seconds_per_file); the worker was "
        "stopped — the file may be damaged; raise the limit if it is a large valid file")
    assert ev["hog.csv"].status == "quarantined" and ev["hog.csv"].error_type == "MemoryLimitExceeded@3s/256MB"
    assert "more than 256 MB of memory (limit processing.max_memory_mb_per_file)" in ev["hog.csv"].reason
    assert len(summary.quarantined) == 3

    # the raw bytes of bytes.csv are in its exception text; the reason holds an escaped, cut description
    reason = ev["bytes.csv"].reason
    assert len(reason) <= 500 and reason.isprintable() and "\\x00\\x01\\x02" in reason
    whole = len("could not parse the header: #toy-csv\n#bytes\n") + len(RAW)
    assert reason.endswith(f"[cut: {whole} characters in all]")

    # a re-run with the same limits does not try them again
    before = {k: v.attempted_at for k, v in ev.items()}
    _, again = pipeline.run_local(cfg)
    assert again.processed == 0 and {k: v.attempted_at for k, v in _events(wh).items()} == before

    # raising the limits for the technique retries the two stopped files (and only them)
    _limits(cfg, max_seconds_per_file=3, max_memory_mb_per_file=256,
            techniques={"toy": {"max_seconds_per_file": 4, "max_memory_mb_per_file": 300}})
    _, retried = pipeline.run_local(cfg)
    assert retried.processed == 2
    ev = _events(wh)
    assert ev["hang.csv"].error_type == "TimeLimitExceeded@4s/300MB"
    assert "longer than 4 s (limit processing.techniques.toy.max_seconds_per_file)" in ev["hang.csv"].reason
    assert "more than 300 MB of memory (limit processing.techniques.toy.max_memory_mb_per_file)" in ev["hog.csv"].reason
    assert ev["bytes.csv"].attempted_at == before["bytes.csv"]  # an ordinary refusal is not retried
    assert sorted(wh.query("select y_v from toy_values").y_v) == [4.0, 8.0]


@pytest.mark.slow  # ~20 s: a worker stopped and started again
def test_a_worker_that_dies_is_replaced_and_the_file_quarantined(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/good.csv", [(1, 2)])
    (tmp_path / "share/S2").mkdir()
    (tmp_path / "share/S2/crash.csv").write_text("#toy-csv\n#crash\n1,2\n")
    _limits(cfg, max_seconds_per_file=30)
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    ev = _events(wh)
    assert ev["crash.csv"].error_type == "WorkerDied@30s/4096MB"
    assert ev["crash.csv"].reason.startswith("the worker reading 'crash.csv' died (killed by SIGKILL)")
    assert ev["good.csv"].status == "ok"
    write_csv(tmp_path / "share/S1/later.csv", [(5, 6)])  # the pool goes on with a new worker
    pipeline.run_local(cfg)
    assert sorted(wh.query("select y_v from toy_values").y_v) == [4.0, 12.0]


def test_a_cross_file_step_that_crashes_stops_its_worker_not_the_run_and_is_tried_again(tmp_path, monkeypatch):
    """The finalize runs in a file worker: a crash there (here SIGKILL; in a run, a segfault in a library)
    is the step's failure, recorded with its reason, and the next run tries it again."""
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/good.csv", [(1, 2)])
    monkeypatch.setenv("HOSTILE_TOY_FINALIZE", "crash")
    with pytest.raises(RuntimeError, match="toy finalize died"):
        pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    ev = _events(wh, "finalize")
    assert [(e.status, e.error_type) for e in ev.values()] == [("quarantined", "WorkerDied")]
    assert _events(wh)["good.csv"].status == "ok"  # the files' rows were committed before the step
    monkeypatch.delenv("HOSTILE_TOY_FINALIZE")
    pipeline.run_local(cfg)
    assert wh.query("select count(*) as n from toy_summary").n[0] == 1


def test_a_zero_length_file_leaves_an_event_and_is_taken_once_it_has_content(tmp_path):
    cfg = toy_campaign(tmp_path)
    (tmp_path / "share/S1").mkdir(parents=True)
    (tmp_path / "share/S1/empty.csv").write_bytes(b"")
    (tmp_path / "share/S2").mkdir(parents=True)
    (tmp_path / "share/S2/empty.csv").write_bytes(b"")  # a second empty file: its own event
    summary, _ = pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    events = wh.query("select original_name, status, reason, error_type from ingest_events where stage = 'intake' "
                      "order by original_name")
    assert events.original_name.tolist() == ["S1/empty.csv", "S2/empty.csv"]
    assert set(events.status) == {"refused"} and set(events.error_type) == {"EmptyFile"}
    assert events.reason[0] == pipeline.EMPTY_REASON
    assert pipeline.EMPTY_REASON.startswith("the file is empty (0 bytes)")
    assert len(wh.query("select * from quarantine")) == 2 and len(wh.query("select * from raw_files")) == 0
    assert len(summary.refused) == 2
    files = wh.manifest().tables["ingest_events"]
    pipeline.run_local(cfg)  # still empty: the same events, nothing rewritten
    assert wh.manifest().tables["ingest_events"] == files

    write_csv(tmp_path / "share/S1/empty.csv", [(1, 2)])  # the file was still being written
    pipeline.run_local(cfg)
    assert wh.query("select y_v from toy_values").y_v.tolist() == [4.0]
    now = wh.query("select original_name, status from ingest_events where stage = 'intake' order by 1")
    assert now.values.tolist() == [["S1/empty.csv", "ok"], ["S2/empty.csv", "refused"]]
    assert wh.query("select count(*) n from quarantine where stage = 'intake'").n[0] == 1


def test_an_empty_file_already_in_the_raw_store_is_quarantined_with_the_same_reason(tmp_path):
    cfg = toy_campaign(tmp_path)
    c = load_campaign(cfg)
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    item = pipeline.WorkItem("e3b0c442" * 8, "toy", "S1", None, "old.csv", str(empty), "lab", "S1/old.csv")
    result = pipeline.process_file(item, c, pipeline.open_warehouse(c).url, "t")
    assert result.event.status == "quarantined" and result.event.reason == pipeline.EMPTY_REASON


def test_limits_are_validated_and_name_their_key():
    from foundation.campaign import Processing

    p = Processing.model_validate({"techniques": {"toy": {"max_seconds_per_file": 600}}})
    assert p.limits_for("toy").seconds == 600 and p.limits_for("toy").memory_mb == 4096
    assert p.limits_for("toy").seconds_key == "processing.techniques.toy.max_seconds_per_file"
    assert p.limits_for("afm").seconds_key == "processing.max_seconds_per_file"


@pytest.mark.parametrize("processing, words", [
    ({"max_seconds_per_file": 0}, "processing.max_seconds_per_file"),
    ({"max_memory_mb_per_file": 10}, "processing.max_memory_mb_per_file"),
    ({"techniques": {"nope": {}}}, "unknown technique(s) ['nope']"),
    ({"max_seconds": 5}, "processing.max_seconds"),
])
def test_bad_limits_are_config_errors(tmp_path, processing, words):
    cfg = toy_campaign(tmp_path)
    _limits(cfg, **processing)
    with pytest.raises(ConfigError) as err:
        load_campaign(cfg)
    assert words in str(err.value)


def test_prefect_cache_key_changes_with_the_limits(tmp_path):
    pytest.importorskip("prefect")
    from flows._runtime import LoadedCampaign
    from flows.process import batch_cache_key

    cfg = toy_campaign(tmp_path)
    items = [pipeline.WorkItem("ab" * 32, "toy", "S1", None, "a.csv", "x", "lab", "S1/a.csv")]
    first = batch_cache_key(None, {"items": items, "loaded": LoadedCampaign.load(str(cfg)), "wh_url": "wh"})
    again = batch_cache_key(None, {"items": items, "loaded": LoadedCampaign.load(str(cfg)), "wh_url": "wh"})
    _limits(cfg, max_seconds_per_file=500)
    loaded = LoadedCampaign.load(str(cfg))
    second = batch_cache_key(None, {"items": items, "loaded": loaded, "wh_url": "wh"})
    assert first == again and first != second  # a batch's key is its files' attempt keys, limits included
    assert "500s/4096MB" in items[0].key(loaded.campaign).cache_key("wh")


@pytest.mark.parametrize("text, expected", [
    ("plain reason", "plain reason"),
    ("a\x00b\nc\udcff\u202ed µm", "a\\x00b\\nc\\udcff\\u202ed µm"),
    ("b'\\x89PNG'", "b'\\x89PNG'"),  # an escaped repr stays as it is
])
def test_safe_reason_escapes_what_is_not_printable(text, expected):
    assert safe_reason(text) == expected


def test_safe_reason_cuts_long_text_without_splitting_an_escape():
    assert safe_reason("a" * 500) == "a" * 500
    cut = safe_reason("x" * 1_000_000)
    assert len(cut) <= 500 and cut.endswith(" … [cut: 1000000 characters in all]")
    cut = safe_reason("\x01" * 1000)
    assert len(cut) <= 500 and cut.split(" … ")[0].endswith("\\x01") and cut.count("\\x01") == cut.count("\\x")


def test_bounded_traceback_keeps_its_end_escaped():
    tb = "Traceback (most recent call last):\n" + "  line\n" * 5000 + "ValueError: \x00" + "y" * 100_000
    out = pipeline.bounded_traceback(tb, limit=2000)
    assert len(out) <= 2100 and out.startswith("… [") and "earlier lines cut]" in out
    last = out.splitlines()[-1]
    assert last.startswith("ValueError: \\x00y") and len(last) <= 500


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_worker_answers_only_within_its_time_limit(monkeypatch, start):
    monkeypatch.setenv(isolation.START_METHOD_ENV, start)
    isolation.shutdown()
    try:
        out = isolation.run(time.sleep, (5,), seconds=0.5, memory_mb=None, slots=1)
        assert out.failure == "time"
        assert isolation.run(sum, ([1, 2, 3],), seconds=30, memory_mb=64, slots=1).value == 6
        died = isolation.run(worker_env.end_here, (3,), seconds=30, memory_mb=None, slots=1)
        assert (died.failure, died.detail) == ("died", "exit code 3")
    finally:
        isolation.shutdown()


@pytest.mark.skipif(not isolation.forkserver.AVAILABLE, reason="workers are forked on Linux only")
def test_workers_are_forked_from_one_process_that_imported_for_them_and_leave_nothing_behind(monkeypatch):
    """The pool's workers are children of one fork server, which imported the modules named for them;
    a worker stopped at its time limit or dead is reaped, and closing the pool ends them all."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.delenv(isolation.START_METHOD_ENV, raising=False)
    isolation.shutdown()
    wanted = "xml.dom.minidom"  # imported by nothing of the platform's
    try:
        def call(_):
            return isolation.run(worker_env.family_here, (wanted,), seconds=60, memory_mb=None, slots=2,
                                 imports=(wanted,)).value

        with ThreadPoolExecutor(2) as threads:  # two at once: two workers
            answers = list(threads.map(call, range(2)))
        server = isolation._POOL._forks.process.pid
        assert len({pid for pid, _, _ in answers}) == 2
        assert {parent for _, parent, _ in answers} == {server} and server != os.getpid()
        assert all(imported for _, _, imported in answers)  # by the fork server, before the fork
        assert isolation.run(worker_env.sleep_here, (5,), seconds=0.3, memory_mb=None, slots=2).failure == "time"
        assert isolation.run(worker_env.end_here, (0,), seconds=30, memory_mb=None, slots=2).failure == "died"
        time.sleep(0.2)
        assert worker_env.children_of(server) == []  # both workers stopped, and reaped: no zombie left
    finally:
        isolation.shutdown()
    time.sleep(0.2)
    assert worker_env.children_of(server) == [] and server not in worker_env.children_of(os.getpid())



def test_workers_are_kept_when_the_caller_sets_what_they_set_and_replaced_when_it_changes_a_variable(monkeypatch):
    """A library imported by the caller after the workers started (pandera, on the first validation)
    sets variables that it set in the workers too: the workers stay (a new pair is two more imports of
    every plugin, mid-run). A variable the caller changes is seen by the next file's worker."""
    name = "SOCSCOPE_TEST_IMPORT_SETS"
    monkeypatch.delenv(name, raising=False)
    isolation.shutdown()
    try:
        pid = isolation.run(worker_env.setenv_here, (name, "1"), seconds=120, memory_mb=None, slots=1).value
        monkeypatch.setenv(name, "1")  # the caller imports the same library now
        assert isolation.run(worker_env.getenv_here, (name,), seconds=120, memory_mb=None, slots=1).value == (pid, "1")
        monkeypatch.setenv(name, "2")  # a change of the caller's own
        other, seen = isolation.run(worker_env.getenv_here, (name,), seconds=120, memory_mb=None, slots=1).value
        assert (other != pid, seen) == (True, "2")
    finally:
        isolation.shutdown()


def test_a_folder_the_caller_puts_on_its_path_later_reaches_the_same_workers(tmp_path, monkeypatch):
    """A library that adds a folder to ``sys.path`` once the workers run (a local Dask cluster adds its
    scratch folders as it starts, inside the processing stage) neither restarts them (a new fork server
    and its imports: ~2 s of every Dask run's stage, the warm one thrown away) nor leaves them without
    it: a module found only in that folder imports in the worker that was already there."""
    isolation.shutdown()
    try:
        pid, _ = isolation.run(worker_env.getenv_here, ("HOME",), seconds=120, memory_mb=None, slots=1).value
        (tmp_path / "socscope_probe_on_new_path.py").write_text("")
        monkeypatch.syspath_prepend(str(tmp_path))
        outcome = isolation.run(worker_env.import_here, ("socscope_probe_on_new_path",), seconds=120,
                                memory_mb=None, slots=1)
        assert outcome.failure is None, outcome.detail
        assert outcome.value == (pid, str(tmp_path / "socscope_probe_on_new_path.py"))
    finally:
        isolation.shutdown()


def test_a_call_marked_first_gets_the_next_free_worker_before_those_waiting():
    """A technique's finalize (``first``) does not queue behind the files of other techniques."""
    import threading

    workers = isolation.Pool(1, ({}, worker_env.__name__, ()))
    order: list[str] = []
    try:
        with workers.worker():  # the only worker is busy
            def wait(name: str, first: bool) -> None:
                with workers.worker(first):
                    order.append(name)

            files = threading.Thread(target=wait, args=("file", False))
            files.start()
            time.sleep(0.3)  # the file waits first
            step = threading.Thread(target=wait, args=("finalize", True))
            step.start()
            time.sleep(0.3)
        files.join(30)
        step.join(30)
    finally:
        workers.close()
    assert order == ["finalize", "file"]


@pytest.mark.skipif(not isolation.forkserver.AVAILABLE, reason="workers are forked on Linux only")
def test_at_exit_the_fork_server_ends_its_workers_in_order_not_killed_with_a_thread():
    """At interpreter exit the pool closes: the fork server reaps its workers and ends (exit code 0), so
    that their CPU time is counted where the caller's children's is (the benchmarks read it). A worker
    process is started from a thread that lives until then: Linux kills it when that thread ends."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from tasks import forkserver, isolation\n"
        "from tests.support import worker_env\n"
        "close = forkserver.ForkServer.close\n"
        "def closing(self):\n"
        "    close(self)\n"
        "    print('fork server ended', self.process.returncode, flush=True)\n"
        "forkserver.ForkServer.close = closing\n"
        "isolation.run(worker_env.sleep_here, (0.1,), seconds=60, memory_mb=None, slots=1)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, isolation.START_METHOD_ENV: "fork"})
    assert done.returncode == 0, done.stderr
    assert "fork server ended 0" in done.stdout, (done.stdout, done.stderr[-2000:])
