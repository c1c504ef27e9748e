"""Raw store and warehouse on S3-compatible storage (moto's server, started by the test)."""
from __future__ import annotations

import uuid

import pytest

from foundation.config import load_campaign
from tasks import pipeline
from tests.operations.conftest import put_on_store
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.store import MANIFEST, Warehouse

pytestmark = pytest.mark.slow  # starts an S3-compatible server


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def s3_campaign(tmp_path, storage_options, monkeypatch) -> tuple:
    """The toy campaign with a local share, its raw store and warehouse under a fresh bucket prefix;
    the store's key and secret come from the environment, as the config loader demands."""
    cfg = toy_campaign(tmp_path)
    prefix = f"s3://socscope/{uuid.uuid4().hex[:8]}"
    put_on_store(cfg, prefix, storage_options, monkeypatch)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    return cfg, prefix


def forbid_renames(monkeypatch, fs) -> None:
    """An object store has no atomic rename: the warehouse must never need one."""
    def refuse(*args, **kwargs):
        raise AssertionError("the warehouse moved or copied an object on S3; commits must not rename")

    for name in ("mv", "rename", "copy", "cp_file", "_cp_file", "_mv_file"):
        if hasattr(fs, name):
            monkeypatch.setattr(fs, name, refuse, raising=False)


def test_campaign_on_s3_queries_through_registered_fsspec(tmp_path, s3_server, monkeypatch):
    cfg, prefix = s3_campaign(tmp_path, s3_server, monkeypatch)
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    assert not wh.is_local
    forbid_renames(monkeypatch, wh.fs)
    _, summary = pipeline.run_local(campaign)
    assert summary.processed == 3 and len(summary.quarantined) == 1

    # raw files are in the content-addressed store on S3, and DuckDB reads the Parquet through s3fs
    stored = wh.query("select store_path from raw_files").store_path.tolist()
    assert len(stored) == 3 and all(p.startswith(prefix[len("s3://"):] + "/raw/") for p in stored)
    assert all(wh.fs.exists(p) for p in stored)
    rows = wh.query("select sample_id, x_m, y_v from toy_values order by x_m").values.tolist()
    assert rows == [["S1", 1.0, 4.0], ["S1", 3.0, 8.0], ["S2", 5.0, 12.0]]
    assert all(f.startswith("s3://") for f in wh.files("toy_values"))
    assert wh.query("select count(*) n from quarantine").n[0] == 1
    summary_rows = wh.query("select sample_id, n_points from toy_summary order by 1").values.tolist()
    assert summary_rows == [["S1", 2], ["S2", 1]]

    # the Python API reads the same rows from the campaign file, with the contract's units
    import socscope

    with socscope.open(cfg) as client:
        frame = client.table("toy_values", sample="S1")
        assert frame.sort_values("x_m")[["x_m", "y_v"]].values.tolist() == [[1.0, 4.0], [3.0, 8.0]]
        assert frame.attrs["units"]["x_m"] == "m"

    # idempotent re-run: the same rows, nothing duplicated
    pipeline.run_local(campaign)
    assert len(wh.query("select * from toy_values")) == 3


def test_failed_commit_on_s3_leaves_the_warehouse_as_it_was(tmp_path, s3_server, monkeypatch):
    cfg, _ = s3_campaign(tmp_path, s3_server, monkeypatch)
    campaign = load_campaign(cfg)
    pipeline.run_local(campaign)
    wh = pipeline.open_warehouse(campaign)
    before_manifest = wh.fs.cat_file(wh._abs(MANIFEST))
    before_rows = wh.query("select * from toy_values order by x_m")

    # a new file arrives; the run dies just before the manifest put (the one step that publishes)
    write_csv(tmp_path / "share/S1/c.csv", [(7, 8)])
    real_pipe = wh.fs.pipe  # fsspec caches filesystem instances: the run uses this very object

    def dying_pipe(path, value=None, **kwargs):
        if str(path).endswith("/" + MANIFEST):
            raise ConnectionError("network gone before the manifest put")
        return real_pipe(path, value, **kwargs)

    monkeypatch.setattr(wh.fs, "pipe", dying_pipe)
    with pytest.raises(ConnectionError):
        pipeline.run_local(campaign)
    assert wh.fs.cat_file(wh._abs(MANIFEST)) == before_manifest
    assert wh.query("select * from toy_values order by x_m").equals(before_rows)

    monkeypatch.undo()
    use_toy_registry(monkeypatch)
    pipeline.run_local(campaign)
    fresh = Warehouse(wh.url, campaign.storage.storage_options)
    assert fresh.query("select x_m from toy_values order by x_m").x_m.tolist() == [1.0, 3.0, 5.0, 7.0]
