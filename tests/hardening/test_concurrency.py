"""Two campaign runs at once on one warehouse, and readers during a write.

- `socscope run` while another run holds the warehouse: the second says so and exits 0 at once; the
  first finishes with the same tables as a run alone.
- Two pipeline runs without the run lock (as two Prefect flow runs on one warehouse would be, only
  the commit lock between them): every commit lands, no row is duplicated, the results equal a run alone.
- Readers (the catalog as `socscope query` and the dashboard open it, and ``Warehouse.query`` as the
  Python API does) answer all through a run and always see one snapshot: two tables written in the
  same commit always agree.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import fault_world as W
from tests.support.fault_world import toy_plugin, world  # noqa: F401  (fixtures)
from warehouse.catalog import open_catalog
from warehouse.store import Warehouse

pytestmark = pytest.mark.slow

#: tables with a key, and the key (no two rows may share one)
KEYS = {"raw_files": "raw_sha256", "sightings": "share, path, raw_sha256",
        "ingest_events": "raw_sha256, stage, params_id, code_version", "toy_summary": "sample_id, params_id",
        "echem_cycles": "measurement_id, cycle, params_id", "echem_series": "measurement_id, record_index, params_id",
        "sample_soc": "sample_id, params_id", "param_sets": "technique, params_id",
        "sample_config": "campaign, sample_id"}
#: two questions answered from tables written in one commit: equal in every snapshot
CONSISTENT = """select
    (select count(*) from raw_files) as raw_files,
    (select count(distinct raw_sha256) from sightings) as sighted,
    (select count(*) from toy_values) as toy_rows,
    (select coalesce(sum(rows_written), 0) from ingest_events
      where stage = 'process' and technique = 'toy') as toy_rows_logged"""


def _duplicates(cfg: Path) -> dict[str, int]:
    con = open_catalog(cfg.parent / "wh")
    try:
        out = {}
        for table, key in KEYS.items():
            n, distinct = con.execute(f"select count(*), count(distinct ({key})) from {table}").fetchone()
            if n != distinct:
                out[table] = n - distinct
        return out
    finally:
        con.close()


def test_a_second_run_says_one_is_running_and_exits_cleanly(world, tmp_path):
    template, reference = world
    cfg = W.copy_world(template, tmp_path / "w")
    first = W.start_run(cfg, SOCSCOPE_PAUSE_AT="intake.rows_ready:8")  # hold the first run mid-way
    lock = cfg.parent / "wh" / ".run.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and f"pid {first.pid}" in lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, "the first run never took the run lock"
        time.sleep(0.2)
    second = W.run(cfg)
    assert first.poll() is None, "the first run ended before the second tried: no overlap was tested"
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "another socscope run is writing to" in second.stdout and f"pid {first.pid}" in second.stdout
    assert "Traceback" not in second.stderr
    assert _duplicates(cfg) == {}
    assert W.warehouse_digests(cfg) == reference


def test_two_pipeline_runs_at_once_commit_everything_once(world, tmp_path):
    template, reference = world
    cfg = W.copy_world(template, tmp_path / "w")
    code = f"from tasks import pipeline; pipeline.run_local({str(cfg)!r})"
    runs = [subprocess.Popen([sys.executable, "-c", code], cwd=cfg.parent, env=W.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    assert _duplicates(cfg) == {}
    got = W.warehouse_digests(cfg)
    # results tables equal a run alone (marts are not part of the pipeline run; finalize may log one
    # attempt more, so its events are compared by the rows they produced, not counted)
    for table in ("raw_files", "sightings", "toy_values", "toy_summary", "echem_series", "echem_cycles", "sample_soc"):
        assert got[table] == reference[table], table


def _reader(read, stop: threading.Event, seen: list, errors: list) -> None:
    while not stop.is_set():
        try:
            row = read()
        except Exception as exc:  # a reader must always get an answer
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        seen.append(row)


def _catalog_answer(root: Path):
    con = open_catalog(root)
    try:
        return con.execute(CONSISTENT).fetchone()
    finally:
        con.close()


def test_readers_answer_throughout_a_run_and_never_see_a_mix(world, tmp_path):
    template, _ = world
    cfg = W.copy_world(template, tmp_path / "w")
    root = cfg.parent / "wh"
    run = W.start_run(cfg)
    while not list((root / "catalogs").glob("*.duckdb")):  # readers start once there is a catalog
        assert run.poll() is None, run.communicate()[1][-3000:]
        time.sleep(0.05)
    api = Warehouse(str(root))
    stop, errors = threading.Event(), []
    seen = {"catalog": [], "api": []}
    threads = [threading.Thread(target=_reader, args=(lambda: _catalog_answer(root), stop, seen["catalog"], errors)),
               threading.Thread(target=_reader, args=(lambda: tuple(api.query(CONSISTENT).iloc[0]), stop,
                                                      seen["api"], errors))]
    for t in threads:
        t.start()
    _, err = run.communicate(timeout=300)
    stop.set()
    for t in threads:
        t.join()
    assert run.returncode == 0, err[-3000:]
    assert errors == []
    for kind, rows in seen.items():
        mixed = [r for r in rows if r[0] != r[1] or r[2] != r[3]]
        assert not mixed, f"{kind} reader saw tables of different snapshots: {mixed[:3]}"
        assert len(rows) > 10 and len(set(rows)) >= 2, f"{kind}: {len(rows)} answers, {set(rows)}"
    print(f"\nreaders during a run: {len(seen['catalog'])} catalog answers and {len(seen['api'])} API answers, "
          f"{len(set(seen['catalog']) | set(seen['api']))} distinct snapshots, 0 errors, 0 mixed")
