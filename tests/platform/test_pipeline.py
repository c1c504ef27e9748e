import json
import threading
import time
from pathlib import Path

import pytest

from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.catalog import open_catalog


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def _processed_one_file(tmp_path):
    """A toy campaign whose one file, S1/a.csv (1, 2), is processed: toy_values holds y = 4.0."""
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    pipeline.run_local(cfg)
    return cfg, load_campaign(cfg)


def _counts(wh):
    return {t: sum(e.rows for e in es) for t, es in wh.manifest().tables.items() if t != "flow_runs"}


def test_end_to_end_lineage_units_and_idempotent_rerun(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])
    i, p = pipeline.run_local(cfg)
    c = load_campaign(cfg)
    wh = pipeline.open_warehouse(c)
    rows = wh.query("select * from toy_values order by x_m")
    assert rows.y_v.tolist() == [4.0, 8.0, 12.0]  # scaled by the parameter set's factor 2
    r = rows.iloc[0]
    assert r.sample_id == "S1" and r.technique == "toy" and r["mode"] == "A" and r.campaign == "toy-campaign"
    assert r.raw_sha256 == wh.query("select raw_sha256 from raw_files where original_name='a.csv'").raw_sha256[0]
    assert r.reader == "toy-csv@1" and r.params_id.startswith("toy-default@1#") and r.flow_run_id == "local"
    assert r.measurement_id == r.raw_sha256[:16]
    summary = wh.query("select sample_id, n_points from toy_summary order by 1").values.tolist()
    assert summary == [["S1", 2], ["S2", 1]]
    # units travel with the data: the Parquet field metadata of every file names them
    import pyarrow.parquet as pq

    f = wh.files("toy_values")[0]
    field = pq.read_schema(f).field("y_v")
    assert field.metadata[b"unit"] == b"V"
    before = _counts(wh)
    pipeline.run_local(cfg)
    assert _counts(wh) == before
    stages = wh.query("select stage, count(*) n from ingest_events group by 1 order by 1").values.tolist()
    assert stages == [["finalize", 1], ["process", 2]]


def test_unreadable_file_is_quarantined_and_the_batch_goes_on(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/good.csv", [(1, 2)])
    (tmp_path / "share/S1/bad.csv").write_text("#toy-csv\n1,banana\n")
    (tmp_path / "share/S2/unknown.csv").parent.mkdir(parents=True)
    (tmp_path / "share/S2/unknown.csv").write_bytes(b"\x00\x01garbage")
    _, p = pipeline.run_local(cfg)
    c = load_campaign(cfg)
    wh = pipeline.open_warehouse(c)
    assert len(wh.query("select * from toy_values")) == 1
    q = wh.query("select original_name, reason, status from quarantine order by 1")
    assert q.original_name.tolist() == ["bad.csv", "unknown.csv"]
    assert "not two numbers" in q.reason[0]
    assert "no toy reader recognises 'unknown.csv'" in q.reason[1]
    raw = wh.query("select store_path from raw_files where original_name = 'bad.csv'").store_path[0]
    assert Path(raw).read_text().endswith("banana\n")  # the raw file stays
    n_events = len(wh.query("select * from ingest_events"))
    pipeline.run_local(cfg)  # quarantined files are not retried with unchanged code and parameters
    assert len(wh.query("select * from ingest_events")) == n_events


def test_reader_chosen_by_content_when_the_extension_lies(tmp_path):
    cfg = toy_campaign(tmp_path)
    p = tmp_path / "share/S1/really_json.csv"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps({"toy": {"x": [1, 2], "y": [3, 4]}}))
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    got = wh.query("select distinct reader, mode from toy_values")
    assert got.values.tolist() == [["toy-json@1", "B"]]


def test_crash_between_data_files_and_manifest_leaves_warehouse_unchanged(tmp_path, monkeypatch):
    cfg, c = _processed_one_file(tmp_path)
    wh = pipeline.open_warehouse(c)
    before_manifest = (Path(wh.root) / "MANIFEST.json").read_text()
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])

    from warehouse import store

    def die(self, manifest):
        raise SystemExit("killed before the manifest was replaced")

    monkeypatch.setattr(store.Warehouse, "_replace_manifest", die)
    with pytest.raises(SystemExit):
        pipeline.run_local(cfg)
    monkeypatch.undo()
    use_toy_registry(monkeypatch)
    assert (Path(wh.root) / "MANIFEST.json").read_text() == before_manifest
    assert wh.query("select count(*) n from toy_values").n[0] == 1
    pipeline.run_local(cfg)  # the next run completes the work
    assert sorted(wh.query("select sample_id from toy_values").sample_id) == ["S1", "S2"]
    assert len(wh.query("select * from raw_files")) == 2
    # the crashed run's data files are orphans: garbage collection removes them and nothing else
    from socscope.cli import main
    from warehouse.store import live_files

    on_disk = {str(p.relative_to(wh.root)) for p in Path(wh.root, "data").rglob("*.parquet")}
    orphans = on_disk - live_files(wh)
    assert orphans
    before = {t: sum(e.rows for e in es) for t, es in wh.manifest().tables.items()}
    assert main(["gc", "--config", str(cfg), "--min-age-hours", "0"]) == 0
    after_disk = {str(p.relative_to(wh.root)) for p in Path(wh.root, "data").rglob("*.parquet")}
    assert after_disk == on_disk - orphans
    assert {t: sum(e.rows for e in es) for t, es in wh.manifest().tables.items()} == before
    assert sorted(wh.query("select sample_id from toy_values").sample_id) == ["S1", "S2"]


def test_two_parameter_versions_coexist_and_current_views_pick_the_active(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 1)])
    pipeline.run_local(cfg)
    v2 = tmp_path / "toy_v2.yaml"
    v2.write_text("name: toy-default\nversion: 2\nscale:\n  factor: 10.0\n")
    import yaml

    data = yaml.safe_load(cfg.read_text())
    data["params"] = {"toy": "toy_v2.yaml"}
    cfg.write_text(yaml.safe_dump(data))
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    all_rows = wh.query("select params_id, y_v from toy_values order by y_v")
    assert all_rows.y_v.tolist() == [2.0, 10.0]
    cur = wh.query("select y_v, params_id from current_toy_values")
    assert cur.y_v.tolist() == [10.0] and cur.params_id[0].startswith("toy-default@2#")


def test_read_only_catalog_keeps_answering_while_a_flow_writes(tmp_path):
    cfg, c = _processed_one_file(tmp_path)
    root = c.resolve(c.storage.warehouse)
    stop = threading.Event()
    errors, answers = [], []

    def reader():
        while not stop.is_set():
            try:
                con = open_catalog(root)
                answers.append(con.execute("select count(*) from toy_values").fetchone()[0])
                con.close()
            except Exception as exc:  # any failure of a reader is a test failure
                errors.append(repr(exc))
            time.sleep(0.005)

    t = threading.Thread(target=reader)
    t.start()
    held = open_catalog(root)  # a connection held open across the writes
    for k in range(6):
        write_csv(tmp_path / f"share/S2/f{k}.csv", [(k, k)])
        pipeline.run_local(cfg)
        assert held.execute("select count(*) from toy_values").fetchone()[0] == 1
    stop.set()
    t.join()
    held.close()
    assert not errors, errors[:3]
    assert len(answers) > 5 and answers[-1] == 7 and answers == sorted(answers)


def test_file_workers_share_one_warehouse_whose_views_follow_the_manifest(tmp_path):
    import shutil

    cfg, c = _processed_one_file(tmp_path)
    url = c.resolve(c.storage.warehouse)
    shared = pipeline.worker_warehouse(url, c.storage.storage_options)
    assert shared is pipeline.worker_warehouse(url, c.storage.storage_options)
    assert shared is not pipeline.worker_warehouse(url, {"anon": True})
    assert shared.query("select y_v from toy_values").y_v.tolist() == [4.0]
    version = shared.manifest().version
    # the warehouse deleted and built again at the same URL, up to the same version number, from
    # another raw file: the worker's views must not be the old ones
    shutil.rmtree(url)
    shutil.rmtree(c.resolve(c.storage.raw_store))
    (tmp_path / "share/S1/a.csv").unlink()
    write_csv(tmp_path / "share/S2/b.csv", [(3, 4)])
    pipeline.run_local(cfg)
    assert shared.manifest().version == version
    assert shared.query("select sample_id, y_v from toy_values").values.tolist() == [["S2", 8.0]]
    # a commit: the same worker warehouse sees it
    write_csv(tmp_path / "share/S1/c.csv", [(5, 6)])
    pipeline.run_local(cfg)
    assert sorted(shared.query("select y_v from toy_values").y_v) == [8.0, 12.0]


def test_parameter_sets_are_parsed_once_but_edits_and_caller_changes_do_not_leak(tmp_path):
    from foundation.parameters import load_params

    path = tmp_path / "p.yaml"
    path.write_text("name: toy-default\nversion: 1\nscale:\n  factor: 2.0\n")
    first = load_params(path)
    first.values["scale"]["factor"] = 99.0  # a caller's change stays the caller's
    again = load_params(path)
    assert again.values == {"scale": {"factor": 2.0}} and again.id == first.id
    path.write_text("name: toy-default\nversion: 1\nscale:\n  factor: 3.0\n")
    edited = load_params(path)
    assert edited.values == {"scale": {"factor": 3.0}} and edited.digest != first.digest


def test_lookups_are_answered_once_per_committed_version_and_each_caller_gets_a_copy(tmp_path, monkeypatch):
    cfg, c = _processed_one_file(tmp_path)
    wh = pipeline.open_warehouse(c)
    executed = []
    run = wh._execute
    monkeypatch.setattr(wh, "_execute", lambda sql, *a: executed.append(sql) or run(sql, *a))
    sql = "select y_v from toy_values"
    first = wh.lookup(sql)
    first.loc[0, "y_v"] = -1.0  # the caller's copy
    assert wh.lookup(sql).y_v.tolist() == [4.0]
    assert executed == [sql]
    write_csv(tmp_path / "share/S2/b.csv", [(3, 4)])
    pipeline.run_local(cfg)  # a new version: asked again, new answer
    assert sorted(wh.lookup(sql).y_v) == [4.0, 8.0]
    assert executed == [sql, sql]


def test_query_reads_the_manifest_key_from_its_head_without_parsing_it_whole(tmp_path, monkeypatch):
    from warehouse import store

    cfg, c = _processed_one_file(tmp_path)
    wh = pipeline.open_warehouse(c)
    whole = wh.manifest()
    key, load = wh._current()
    assert key == (whole.version, whole.created_at) and whole.version > 0 and whole.created_at
    assert load() == whole
    wh.query("select 1")
    parsed = []
    monkeypatch.setattr(store.Manifest, "from_json", classmethod(lambda cls, text: parsed.append(1)))
    assert wh.query("select y_v from toy_values").y_v.tolist() == [4.0]
    assert not parsed  # same version: the views stand, the manifest was not parsed


def test_stamp_frame_adds_lineage_keeps_plugin_keys_and_overrides_framework_columns():
    from datetime import datetime, timezone

    import pandas as pd

    when = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    df = pd.DataFrame({"x_m": [1.0, 2.0, 3.0], "sample_id": ["S9", None, "S8"], "params_id": ["mine"] * 3,
                       "mode": ["B", "B", "B"]})
    out = pipeline.stamp_frame(df, campaign="c", technique_name="toy", sample_id="S1", mode="A",
                               measurement_id="m1", raw_sha256="ab" * 32, reader="toy-csv@1",
                               params_id="toy-default@1#x", flow_run_id="run-1", processed_at=when)
    assert out.x_m.tolist() == [1.0, 2.0, 3.0] and list(out.index) == [0, 1, 2]
    assert out.sample_id.tolist() == ["S9", "S1", "S8"]  # the plugin's keys stay; gaps take the file's
    assert out["mode"].tolist() == ["B", "B", "B"]
    assert (out.params_id == "toy-default@1#x").all() and (out.technique == "toy").all()
    assert (out.campaign == "c").all() and (out.flow_run_id == "run-1").all() and (out.reader == "toy-csv@1").all()
    assert (out.processed_at == pd.Timestamp(when)).all() and str(out.processed_at.dtype).endswith("UTC]")
    assert out.measurement_id.tolist() == ["m1"] * 3 and out.raw_sha256.tolist() == ["ab" * 32] * 3
    assert sorted(out.columns) == sorted(["x_m", "sample_id", "params_id", "mode", "campaign", "technique",
                                          "measurement_id", "raw_sha256", "reader", "flow_run_id", "processed_at"])
    assert df.columns.tolist() == ["x_m", "sample_id", "params_id", "mode"] and df.sample_id.isna().sum() == 1


@pytest.mark.parametrize("samples, files", [
    (["S1", "S1", "S1"], {"technique=toy/sample_id=S1": [1.0, 2.0, 3.0]}),
    (["S1", None, "S1"], {"technique=toy/sample_id=S1": [1.0, 3.0], "technique=toy/sample_id=__null__": [2.0]}),
    (["S2", "S1", "S2"], {"technique=toy/sample_id=S1": [2.0], "technique=toy/sample_id=S2": [1.0, 3.0]}),
])
def test_write_unit_writes_one_file_per_partition(tmp_path, samples, files):
    from datetime import datetime, timezone

    import pandas as pd
    import pyarrow.parquet as pq

    from tests.support.toy_technique import TOY_VALUES
    from warehouse.store import Warehouse, write_unit

    wh = Warehouse(str(tmp_path / "wh"))
    df = pipeline.stamp_frame(pd.DataFrame({"x_m": [1.0, 2.0, 3.0], "y_v": [0.1, 0.2, 0.3], "sample_id": samples}),
                              campaign="c", technique_name="toy", sample_id=None, mode=None, measurement_id="m",
                              raw_sha256="ab" * 32, reader="toy-csv@1", params_id="toy-default@1#x",
                              flow_run_id="run", processed_at=datetime.now(timezone.utc))
    entries = write_unit(wh, TOY_VALUES, df, "unit-1")
    written = {e.path.rsplit("/", 1)[0].removeprefix("data/toy_values/"):
               pq.read_table(tmp_path / "wh" / e.path).column("x_m").to_pylist() for e in entries}
    assert written == files
    assert all(e.unit == "unit-1" and e.rows == len(written[e.path.rsplit("/", 1)[0].removeprefix("data/toy_values/")])
               for e in entries)


def test_the_run_process_reads_no_raw_file_and_writes_no_file_rows(tmp_path, monkeypatch):
    """A file's bytes are fetched, read and its rows written in the file worker (in parallel with the
    other workers): the run's own process only hands out work items and commits (issue 22 scale-out)."""
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])

    def not_here(*args, **kwargs):
        raise AssertionError("the run's process did a file's own work")

    for name in ("_local_copy", "compute_file", "write_unit"):
        monkeypatch.setattr(pipeline, name, not_here)
    _, summary = pipeline.run_local(cfg)
    assert summary.processed == 2 and not summary.quarantined, summary.quarantined
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert len(wh.query("select * from toy_values")) == 2
