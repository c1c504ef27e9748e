"""Bounded memory (issue 22): a finalize's output is written piece by piece, each piece let go before the
next is made; and the memory benchmark's reader of the kernel's high-water mark returns what a process
really held."""
from __future__ import annotations

import importlib.util
import subprocess  # nosec B404 — runs sys.executable with fixed arguments
import sys
import weakref
from pathlib import Path

import pandas as pd
import pytest

from foundation.config import load_campaign
from foundation.registry import technique
from tasks import pipeline
from warehouse.store import unit_key
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def test_finalize_pieces_are_written_one_at_a_time_and_released(tmp_path, monkeypatch):
    cfg = toy_campaign(tmp_path)
    for sample in ("S1", "S2"):
        write_csv(tmp_path / f"share/{sample}/a.csv", [(1, 2)])
    pipeline.run_local(cfg)
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    data = Path(wh.root) / "data" / "toy_summary"
    files_before = len(list(data.rglob("*.parquet")))
    held: list[weakref.ref] = []
    checked: list[tuple[int, bool]] = []

    def pieces(ctx):  # one summary row per sample, as a finalize that streams yields them
        for n, sample in enumerate(("S1", "S2")):
            # before the next piece is made: every piece so far is on disk, and none is still in memory
            checked.append((len(list(data.rglob("*.parquet"))) - files_before, any(r() is not None for r in held)))
            piece = pd.DataFrame({"sample_id": [sample], "n_points": [1], "mean_y_v": [4.0 + n],
                                  "measurement_id": [f"summary:{sample}"]})
            held.append(weakref.ref(piece))
            yield "toy_summary", piece
            del piece
        checked.append((len(list(data.rglob("*.parquet"))) - files_before, any(r() is not None for r in held)))

    stamp = pipeline.stamp_frame

    def stamped(*args, **kw):  # the pipeline's own copy of a piece (with lineage) must be let go too
        out = stamp(*args, **kw)
        held.append(weakref.ref(out))
        return out

    monkeypatch.setattr(pipeline, "stamp_frame", stamped)
    monkeypatch.setattr(technique("toy"), "finalize", pieces)
    # what a worker runs (finalize_technique hands it to one), here so that the patches apply
    result = pipeline.finalize_here(campaign, wh.url, "toy", "local")
    assert checked == [(0, False), (1, False), (2, False)]
    assert result.rows == 2 and result.failure is None
    tx = wh.transaction("local")
    assert result.unit == unit_key("toy", "finalize", pipeline.params_for(campaign, "toy").id)
    tx.adopt(result.unit, result.entries)
    tx.commit()
    got = wh.query("select sample_id, mean_y_v from toy_summary order by 1").values.tolist()
    assert got == [["S1", 4.0], ["S2", 5.0]]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "bench" / "memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_reads_the_peak_a_child_process_really_held():
    """A child touches 256 MiB, frees it and waits: its high-water mark still says 256 MiB and more
    (the interpreter's own ~10-30 MiB on top), found in the tree under this process."""
    bench = _bench()
    child = subprocess.Popen([sys.executable, "-c", "import sys; b = b'x' * (256 * 2**20); del b; "
                              "print('ready', flush=True); sys.stdin.readline()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert child.pid in bench.process_tree(bench.os.getpid())
        peak = bench.peak_rss_mib(child.pid)
        assert 256 <= peak < 256 + 100, peak
    finally:
        child.communicate("\n")
    assert bench.peak_rss_mib(child.pid) is None  # gone: no number rather than a stale one


def test_benchmark_sampler_tells_file_workers_from_the_main_process():
    bench = _bench()
    worker = subprocess.Popen([sys.executable, "-c", f"import sys  # {bench.WORKER_MARKS[0]}\n"
                               "print('ready', flush=True); sys.stdin.readline()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready"
        with bench.TreeSampler(bench.os.getpid()) as tree:
            tree.sample()
        assert worker.pid in tree.workers and bench.os.getpid() not in tree.workers
        assert tree.peaks[worker.pid] > 0
    finally:
        worker.communicate("\n")


def test_soc_profile_reads_the_feature_rows_of_a_batch_of_samples_at_a_time(tmp_path, monkeypatch):
    from warehouse import marts
    from warehouse.marts import profile

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])
    pipeline.run_local(cfg)
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    asked: list[list[str] | None] = []
    real = profile._feature_rows

    def feature_rows(con, decls, samples):
        asked.append(None if samples is None else list(samples))
        return real(con, decls, samples)

    monkeypatch.setattr(profile, "_feature_rows", feature_rows)
    monkeypatch.setattr(profile, "SAMPLES_PER_BATCH", 1)
    marts.build_marts(campaign, wh, "local")
    assert sorted(s for s in asked if s is not None) == [["S1"], ["S2"]]
    # toy y_v is y x 2 (its parameter set's factor): S1 holds 4 and 8, S2 holds 12
    got = wh.query("select sample_id, mean, n from soc_profile where feature = 'y' and not interpolated order by 1")
    assert got.values.tolist() == [["S1", 6.0, 2], ["S2", 12.0, 1]]


def test_platform_duckdb_connections_carry_a_memory_limit_and_spill_outside_the_working_folder(tmp_path):
    from warehouse.store import Warehouse

    con = Warehouse(str(tmp_path / "wh")).connect()
    limit, temp = con.execute("select current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    assert limit.endswith("MiB") and float(limit.split()[0]) <= 512, limit
    assert Path(temp).is_absolute(), temp  # DuckDB's own default is '.tmp' in the working folder


def test_benchmark_sampler_forgets_what_a_child_showed_before_it_exec_d():
    """Between fork and exec a child shows its parent's command line and pages: once it runs the worker's
    own command, only what it holds from then on counts as the worker's peak."""
    bench = _bench()
    tree = bench.TreeSampler(bench.os.getpid())
    worker = subprocess.Popen([sys.executable, "-c", f"import sys  # {bench.WORKER_MARKS[0]}\n"
                               "print('ready', flush=True); sys.stdin.readline()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        tree._cmdlines[worker.pid] = "the parent's command line, as seen before exec"
        tree.peaks[worker.pid] = 10**6  # the parent's size, seen before exec
        assert worker.stdout.readline().strip() == "ready"  # running its own program
        tree.sample()
        assert worker.pid in tree.workers and tree.peaks[worker.pid] < 1000
    finally:
        worker.communicate("\n")
