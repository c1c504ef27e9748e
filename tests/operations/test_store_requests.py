"""Requests the warehouse sends an object store: what a data file is (size, time) is asked once per
process, not at every query (warehouse/written_once.py). Counted where the store receives them."""
from __future__ import annotations

import collections
import contextlib
import threading
import time
import uuid
from dataclasses import replace
from typing import Iterator

import pandas as pd
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from tests.operations.conftest import free_port, put_on_store
from warehouse.store import Warehouse, unit_key
from warehouse.written_once import WrittenOnce


# ------------------------------------------------------------------------------------------ unit
class CountingMemory(MemoryFileSystem):
    """An in-memory store that counts the details it is asked for."""

    cachable = False

    def __init__(self):
        super().__init__()
        self.store, self.pseudo_dirs = {}, [""]  # an instance of its own, not the class-wide store
        self.asked = collections.Counter()
        self.opened = collections.Counter()  # files opened for reading: each a read from the store

    def info(self, path, **kwargs):
        self.asked[self._strip_protocol(path)] += 1
        return super().info(path, **kwargs)

    def _open(self, path, mode="rb", **kwargs):
        if "r" in mode:
            self.opened[self._strip_protocol(path)] += 1
        return super()._open(path, mode, **kwargs)


class CountingMemoryAsS3(CountingMemory):
    """``CountingMemory`` under s3:// URLs: DuckDB keeps what it read only of files it takes, by their
    URL, for remote ones."""

    protocol = ("s3",)

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(path.removeprefix("s3://"))


def test_each_files_details_are_asked_once_and_a_missing_file_every_time():
    inner = CountingMemory()
    inner.pipe("/wh/data/a.parquet", b"abc")
    fs = WrittenOnce(inner)
    for _ in range(3):
        assert fs.glob("/wh/data/a.parquet") == ["/wh/data/a.parquet"]
        assert fs.exists("/wh/data/a.parquet") and fs.size("/wh/data/a.parquet") == 3
        with fs.open("/wh/data/a.parquet", "rb") as fh:
            assert fh.read() == b"abc"
    assert inner.asked["/wh/data/a.parquet"] == 1
    for _ in range(2):  # not there yet: never remembered as missing
        assert fs.glob("/wh/data/b.parquet") == []
    assert inner.asked["/wh/data/b.parquet"] == 2
    inner.pipe("/wh/data/b.parquet", b"x")
    assert fs.exists("/wh/data/b.parquet")


def test_the_details_kept_are_bounded():
    inner = CountingMemory()
    for i in range(5):
        inner.pipe(f"/d/{i}", b"x")
    fs = WrittenOnce(inner, max_details=2)
    for i in range(5):
        fs.info(f"/d/{i}")
    fs.info("/d/4")
    fs.info("/d/0")  # forgotten (the oldest went first): asked again
    assert inner.asked["/d/4"] == 1 and inner.asked["/d/0"] == 2


# ------------------------------------------------------------------------------------------ on moto
class StoreCounts(collections.Counter):
    """(method, path) of every request a store answered, and the most it answered at once."""

    most_at_once = 0


@contextlib.contextmanager
def s3_server(latency_s: float = 0.0) -> Iterator[tuple[StoreCounts, dict]]:
    """moto's S3 server with a counter of (method, path) of every request it answers; ``latency_s``: each
    request answered that much later, as a store across a network answers."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    counts = StoreCounts()
    lock = threading.Lock()
    app, at_once = server._server.app, [0]

    def counting(environ, start_response):
        with lock:
            counts[(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))] += 1
            at_once[0] += 1
            counts.most_at_once = max(counts.most_at_once, at_once[0])
        try:
            time.sleep(latency_s)
            return app(environ, start_response)
        finally:
            with lock:
                at_once[0] -= 1

    server._server.app = counting
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="counted")
    try:
        yield counts, {"key": "test", "secret": "test",
                       "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    finally:
        server.stop()


@pytest.fixture()
def counted_s3():
    with s3_server() as served:
        yield served


@pytest.mark.slow  # starts an S3-compatible server
def test_queries_on_new_versions_ask_the_store_nothing_about_files_already_seen(counted_s3):
    from schemas.platform import FLOW_RUNS

    counts, options = counted_s3
    wh = Warehouse(f"s3://counted/{uuid.uuid4().hex[:8]}/wh", options)
    row = {c.name: None for c in FLOW_RUNS.all_columns}
    for i in range(4):  # four commits, each a new manifest version and one more data file
        tx = wh.transaction("t")
        tx.put(FLOW_RUNS, pd.DataFrame([{**row, "flow_run_id": f"r{i}", "campaign": "c", "step": "s"}]),
               unit_key("u", i))
        tx.commit()
        assert len(wh.query("select * from flow_runs")) == i + 1  # views built anew for each version
    data = [p for (method, p), n in counts.items() if "/data/" in p]
    heads = {p: n for (method, p), n in counts.items() if method == "HEAD" and "/data/" in p}
    assert len(data) >= 4 and not heads, heads  # the files were there; what each is, the manifest said
    manifest = {method for (method, p), n in counts.items() if p.endswith("/MANIFEST.json")}
    assert manifest == {"GET", "PUT"}  # read in one request each time, no HEAD before it


def _commit_runs(wh: Warehouse, names: list[str]) -> list[tuple[int, str]]:
    """One commit per name (a flow_runs row each); the manifest key after each."""
    from schemas.platform import FLOW_RUNS

    row = {c.name: None for c in FLOW_RUNS.all_columns}
    keys = []
    for i, name in enumerate(names):
        tx = wh.transaction("t")
        tx.put(FLOW_RUNS, pd.DataFrame([{**row, "flow_run_id": name, "campaign": "c", "step": "s"}]), unit_key(name, i))
        tx.commit()
        keys.append(wh.manifest_key())
    return keys


def test_a_lookup_reads_the_version_it_names_and_the_current_one_when_that_version_is_gone(tmp_path):
    wh = Warehouse(str(tmp_path / "wh"))
    first, second = _commit_runs(wh, ["r0", "r1"])
    sql = "select flow_run_id from flow_runs order by 1"
    assert list(wh.lookup(sql, at=first).flow_run_id) == ["r0"]
    assert list(Warehouse(str(tmp_path / "wh")).lookup(sql, at=first).flow_run_id) == ["r0"]  # a fresh process
    assert list(wh.lookup(sql, at=second).flow_run_id) == ["r0", "r1"]
    assert list(wh.lookup(sql).flow_run_id) == ["r0", "r1"]
    rebuilt = (first[0], "2000-01-01T00:00:00+00:00")  # that version number, of a warehouse since built again
    assert list(wh.lookup(sql + " -- again", at=rebuilt).flow_run_id) == ["r0", "r1"]
    assert list(wh.lookup(sql + " -- gone", at=(99, first[1])).flow_run_id) == ["r0", "r1"]


def test_files_are_handed_out_with_the_version_the_earlier_phases_committed(tmp_path):
    """process_items names, on each file it hands out, the version current at that moment: the first
    phase's files under the version before, the next phase's under the one the first phase committed."""
    from tasks import pipeline

    wh = Warehouse(str(tmp_path / "wh"))
    before, = _commit_runs(wh, ["r0"])
    handed: list[tuple] = []
    committed = []

    def run_files(items):
        handed.extend((w.first, w.manifest_key) for w in items)
        if items[0].first:  # the first phase commits something the next one may look up
            committed.extend(_commit_runs(wh, ["first phase"]))
        return []

    item = pipeline.WorkItem(raw_sha256="a" * 64, technique="toy", sample_id="S1", cell_id=None, original_name="a",
                             store_path="p", share=None, rel_path=None)
    todo = [replace(item, first=True), item, replace(item, raw_sha256="b" * 64)]
    pipeline.process_items(wh, "toy", todo, None, run_files, pipeline.ProcessSummary())
    assert handed == [(True, before), (False, committed[0]), (False, committed[0])]


def test_a_finalize_reads_the_version_current_at_its_start_throughout(tmp_path, monkeypatch):
    """A technique's cross-file step asks several questions (AFM: one per pair of maps); all read the
    version current when it started, so another technique committing meanwhile does not change its
    campaign halfway (and the step reads the manifest once, not once per question)."""
    from dataclasses import replace as replaced

    from foundation.config import load_campaign
    from tasks import pipeline
    from tests.support.toy_world import toy_campaign, use_toy_registry

    use_toy_registry(monkeypatch)
    campaign = load_campaign(toy_campaign(tmp_path))
    wh = pipeline.open_warehouse(campaign)
    _commit_runs(wh, ["r0"])
    seen = []

    def finalize(ctx):
        seen.append(sorted(ctx.query("select flow_run_id from flow_runs").flow_run_id))
        _commit_runs(Warehouse(wh.url), ["meanwhile"])  # another technique's commit
        seen.append(sorted(ctx.query("select flow_run_id from flow_runs").flow_run_id))
        return {}

    toy = pipeline.technique("toy")
    monkeypatch.setattr(pipeline, "technique", lambda name: replaced(toy, finalize=finalize))
    pipeline.finalize_here(campaign, wh.url, "toy", None)
    assert seen == [["r0"], ["r0"]]
    assert sorted(wh.query("select flow_run_id from flow_runs").flow_run_id) == ["meanwhile", "r0"]


@pytest.mark.slow  # starts an S3-compatible server
def test_lookups_at_the_version_work_was_handed_out_under_do_not_read_the_manifest_again(counted_s3):
    """A file worker's lookups name the version its batch was handed out under (WorkItem.manifest_key):
    its own manifest file is read once per process, the current one never (one GET per file before)."""
    counts, options = counted_s3
    url = f"s3://counted/{uuid.uuid4().hex[:8]}/wh"
    first, _ = _commit_runs(Warehouse(url, options), ["r0", "r1"])
    worker = Warehouse(url, options)  # another process
    counts.clear()
    for i in range(4):  # distinct questions: none answered from the lookup cache
        assert list(worker.lookup(f"select flow_run_id, {i} as q from flow_runs", at=first).flow_run_id) == ["r0"]
    manifests = {(method, p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1]): n for (method, p), n in counts.items()
                 if p.endswith(".json")}
    assert manifests == {("GET", f"manifests/{first[0]:08d}.json"): 1}, manifests


@pytest.mark.slow  # starts an S3-compatible server
def test_a_process_that_reads_files_the_manifest_sized_asks_the_store_nothing_about_them(counted_s3):
    from schemas.platform import FLOW_RUNS

    counts, options = counted_s3
    url = f"s3://counted/{uuid.uuid4().hex[:8]}/wh"
    writer = Warehouse(url, options)
    row = {c.name: None for c in FLOW_RUNS.all_columns}
    for i in range(3):
        tx = writer.transaction("t")
        tx.put(FLOW_RUNS, pd.DataFrame([{**row, "flow_run_id": f"r{i}", "campaign": "c", "step": "s"}]),
               unit_key("u", i))
        tx.commit()
    entries = writer.manifest().tables["flow_runs"]
    sizes = {e.path: e.size for e in entries}
    assert all(size > 0 for size in sizes.values())
    assert sizes == {e.path: writer.fs.size(writer._abs(e.path)) for e in entries}  # the store's own count
    counts.clear()
    reader = Warehouse(url, options)  # another process: nothing of these files known yet
    for _ in range(2):
        assert sorted(reader.query("select flow_run_id from flow_runs").flow_run_id) == ["r0", "r1", "r2"]
    data = {(method, p): n for (method, p), n in counts.items() if "/data/" in p}
    assert {method for method, _ in data} == {"GET"}, data  # no HEAD: the manifest gave each file's size
    assert len(data) == 3 and set(data.values()) == {1}, data  # each small file read once, whole


@pytest.mark.slow  # starts an S3-compatible server
def test_the_reads_of_a_views_small_files_on_a_distant_store_overlap():
    """A finalize reads back every small file of a technique's table: on a store 20 ms away, one request
    after the other would be 20 ms a file (644 files: 13 s). DuckDB's reads through the warehouse's
    filesystem overlap (bench/store_reads.py: 322 files at 20 ms in ~1.6 s); a lock or a cache that
    made them one at a time would show here."""
    from schemas.platform import FLOW_RUNS

    with s3_server(latency_s=0.02) as (counts, options):
        url = f"s3://counted/{uuid.uuid4().hex[:8]}/wh"
        writer = Warehouse(url, options)
        row = {c.name: None for c in FLOW_RUNS.all_columns}
        tx = writer.transaction("t")
        for i in range(24):  # one commit, 24 small files of one table
            tx.put(FLOW_RUNS, pd.DataFrame([{**row, "flow_run_id": f"r{i:02d}", "campaign": "c", "step": "s"}]),
                   unit_key("u", i))
        tx.commit()
        counts.clear()
        counts.most_at_once = 0
        reader = Warehouse(url, options)  # another process: nothing of these files kept yet
        assert reader.query("select count(*) as n from flow_runs").n[0] == 24
        data = {(method, p): n for (method, p), n in counts.items() if "/data/" in p}
    assert len(data) == 24 and set(data.values()) == {1}, data  # each file read once
    assert counts.most_at_once >= 4, counts.most_at_once  # one after the other: 1


def test_a_small_file_is_read_once_and_a_large_one_each_time():
    inner = CountingMemory()
    inner.pipe("/d/small", b"s" * 10)
    inner.pipe("/d/large", b"L" * 100)
    fs = WrittenOnce(inner, max_file=50)
    for _ in range(3):
        with fs.open("/d/small", "rb") as fh:
            fh.seek(5)
            assert fh.read() == b"s" * 5
        with fs.open("/d/large", "rb") as fh:
            assert fh.read() == b"L" * 100
    assert inner.opened == {"/d/small": 1, "/d/large": 3}
    assert fs.files_read == 1


def test_the_bytes_kept_are_bounded():
    inner = CountingMemory()
    for i in range(4):
        inner.pipe(f"/d/{i}", bytes([i]) * 10)
    fs = WrittenOnce(inner, max_file=10, max_bytes=25)
    for i in range(4):
        assert fs.cat_file(f"/d/{i}") == bytes([i]) * 10
    assert fs._kept <= 25 and fs.files_read == 4
    assert fs.cat_file("/d/0") == bytes([0]) * 10 and fs.files_read == 5  # the oldest went first
    assert fs.cat_file("/d/3") == bytes([3]) * 10 and fs.files_read == 5


def test_queries_over_more_small_files_than_are_kept_read_each_file_once():
    """DuckDB opens every file of a view at every query and reads from its own cache: a file opened but
    not read costs nothing. (Read whole at the open, the files of a table larger than the bytes kept
    were all read again at every query, the least recently used going first: 4,799 GETs for 40
    queries over 120 AFM pixel files.)"""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    inner = CountingMemoryAsS3()
    paths = []
    for i in range(6):
        with inner.open(f"/wh/data/px/{i}.parquet", "wb") as fh:
            pq.write_table(pa.table({"measurement_id": [f"m{i}"] * 1000, "v": list(range(1000))}), fh)
        paths.append(f"/wh/data/px/{i}.parquet")
    size = inner.size(paths[0])
    fs = WrittenOnce(inner, under="/wh/data", max_file=10 * size, max_bytes=2 * size)  # 2 of 6 kept
    inner.opened.clear()
    con = duckdb.connect()
    con.register_filesystem(fs)
    listing = ", ".join(f"'s3:/{p}'" for p in paths)
    con.execute(f"create view px as select * from read_parquet([{listing}])")
    for _ in range(3):
        for i in range(6):
            assert con.execute("select sum(v) from px where measurement_id = ?", [f"m{i}"]).fetchone() == (499500,)
    assert set(inner.opened) == set(paths) and max(inner.opened.values()) == 1, inner.opened
    assert fs.files_read == 6


def test_only_the_data_folder_is_taken_as_written_once():
    """An object outside the warehouse's data files (a user's SQL reading some other object of the
    bucket, which may be replaced) is asked about and read every time."""
    inner = CountingMemory()
    inner.pipe("/wh/data/t/a.parquet", b"a")
    inner.pipe("/wh/notes.csv", b"v1")
    fs = WrittenOnce(inner, under="memory:///wh/data")
    for _ in range(2):
        assert fs.cat_file("/wh/data/t/a.parquet") == b"a" and fs.size("/wh/data/t/a.parquet") == 1
    assert fs.size("/wh/notes.csv") == 2 and fs.cat_file("/wh/notes.csv") == b"v1"
    inner.pipe("/wh/notes.csv", b"v2 longer")
    assert fs.size("/wh/notes.csv") == 9 and fs.cat_file("/wh/notes.csv") == b"v2 longer"
    assert inner.asked["/wh/data/t/a.parquet"] == 1 and inner.asked["/wh/notes.csv"] == 2
    assert fs.files_read == 1


# ------------------------------------------------------------------------------------------ raw files
def _toy_on_store(tmp_path, monkeypatch, options: dict, **share) -> tuple:
    """The toy campaign with its warehouse and raw store (and, given ``share``, its share) on the store."""
    from foundation.config import load_campaign
    from tasks import pipeline
    from tests.support.toy_world import toy_campaign, use_toy_registry

    use_toy_registry(monkeypatch)
    prefix = f"counted/{uuid.uuid4().hex[:8]}"
    cfg = toy_campaign(tmp_path, **share)
    put_on_store(cfg, f"s3://{prefix}", options, monkeypatch, share=bool(share))
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    pipeline.register_campaign(campaign, wh)
    return campaign, wh, prefix


@pytest.mark.slow  # starts an S3-compatible server
def test_processing_reads_each_raw_file_from_the_store_in_one_request(counted_s3, tmp_path, monkeypatch):
    from tasks import pipeline
    from tests.support.toy_world import write_csv

    counts, options = counted_s3
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])
    campaign, wh, prefix = _toy_on_store(tmp_path, monkeypatch, options)
    pipeline.intake(campaign, wh)
    counts.clear()
    pipeline.process(campaign, wh)
    raw = {(method, path): n for (method, path), n in counts.items() if path.startswith(f"/{prefix}/raw/")}
    assert len(raw) == 2, raw  # the two files
    assert {method for method, _ in raw} == {"GET"} and set(raw.values()) == {1}, raw  # one GET: no HEAD
    assert len(wh.query("select * from toy_values")) == 3


@pytest.mark.slow  # starts an S3-compatible server
def test_a_file_kept_in_place_on_the_store_is_checked_against_its_hash(counted_s3, tmp_path, monkeypatch):
    import fsspec

    from tasks import pipeline

    counts, options = counted_s3
    campaign, wh, prefix = _toy_on_store(tmp_path, monkeypatch, options, raw_store_mode="reference")
    fs = fsspec.filesystem("s3", **options)
    for name, text in {"S1/a.csv": "1,2\n3,4\n", "S1/c.csv": "7,8\n", "S2/b.csv": "5,6\n"}.items():
        fs.pipe(f"{prefix}/share/{name}", b"#toy-csv\n" + text.encode())
    pipeline.intake(campaign, wh)
    fs.pipe(f"{prefix}/share/S1/a.csv", b"#toy-csv\n1,200\n")  # replaced behind the platform's back
    fs.rm(f"{prefix}/share/S1/c.csv")  # and one taken away
    counts.clear()
    pipeline.process(campaign, wh)
    reasons = dict(wh.query("select original_name, reason from quarantine").values.tolist())
    reasons = {name.rsplit("/", 1)[-1]: why for name, why in reasons.items()}
    assert "changed since intake hashed it" in reasons["a.csv"], reasons
    assert "has vanished since intake took it" in reasons["c.csv"], reasons
    assert wh.query("select sample_id, y_v from toy_values").values.tolist() == [["S2", 12.0]]
    share = {(m, p): n for (m, p), n in counts.items() if p.startswith(f"/{prefix}/share/S1/a.csv")}
    assert share == {("GET", f"/{prefix}/share/S1/a.csv"): 1}  # hashed from the one copy it read
    assert not list(fs.find(f"{prefix}/raw"))  # nothing copied into the raw store
