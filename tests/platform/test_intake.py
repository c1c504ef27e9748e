import os
import time
from pathlib import Path

import pytest

from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def _run_intake(cfg):
    c = load_campaign(cfg)
    wh = pipeline.open_warehouse(c)
    return c, wh, pipeline.intake(c, wh, "t")


def test_file_still_being_written_is_not_taken(tmp_path):
    cfg = toy_campaign(tmp_path, settle_seconds=30)
    f = write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    c, wh, s = _run_intake(cfg)
    assert s.seen == 0 and s.pending == ["lab:S1/a.csv"]
    assert len(wh.query("select * from raw_files")) == 0
    old = time.time() - 60
    os.utime(f, (old, old))
    c, wh, s = _run_intake(cfg)
    assert s.seen == 1 and s.new_files == 1


def test_done_marker_makes_a_file_complete(tmp_path):
    cfg = toy_campaign(tmp_path, settle_seconds=3600, done_marker_suffix=".done")
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    _, _, s = _run_intake(cfg)
    assert s.seen == 0
    (tmp_path / "share/S1/a.csv.done").write_text("")
    _, wh, s = _run_intake(cfg)
    assert s.seen == 1
    assert wh.query("select original_name from raw_files").original_name.tolist() == ["a.csv"]


def test_duplicate_renamed_and_on_two_shares_is_one_raw_file(tmp_path):
    cfg = toy_campaign(tmp_path, extra_share=True)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share/S1/copy_of_a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share2/S1/a.csv", [(1, 2), (3, 4)])
    c, wh, s = _run_intake(cfg)
    assert s.seen == 3 and s.new_files == 1
    assert len(wh.query("select * from raw_files")) == 1
    sightings = wh.query("select share, path from sightings order by 1, 2")
    assert sightings.values.tolist() == [["lab", "S1/a.csv"], ["lab", "S1/copy_of_a.csv"], ["lab2", "S1/a.csv"]]
    stored = Path(wh.query("select store_path from raw_files").store_path[0])
    assert stored.read_bytes() == (tmp_path / "share/S1/a.csv").read_bytes()
    assert not os.access(stored, os.W_OK) or os.geteuid() == 0
    assert stored.stat().st_mode & 0o222 == 0  # read-only in the raw store


def test_symlink_out_of_the_share_is_refused(tmp_path):
    cfg = toy_campaign(tmp_path)
    secret = write_csv(tmp_path / "outside/secret.csv", [(9, 9)])
    (tmp_path / "share/S1").mkdir(parents=True)
    os.symlink(secret, tmp_path / "share/S1/link.csv")
    c, wh, s = _run_intake(cfg)
    assert s.seen == 0 and len(s.refused) == 1 and "outside the share" in s.refused[0]
    ev = wh.query("select status, reason from ingest_events")
    assert ev.status.tolist() == ["refused"]
    assert len(wh.query("select * from raw_files")) == 0
    assert wh.query("select original_name from quarantine").original_name.tolist() == ["S1/link.csv"]


def test_file_over_the_size_limit_is_refused_with_the_limit(tmp_path):
    cfg = toy_campaign(tmp_path, max_file_mb=0.001)
    (tmp_path / "share/S1").mkdir(parents=True)
    (tmp_path / "share/S1/big.csv").write_bytes(b"#toy-csv\n" + b"1,2\n" * 1000)  # 4 kB > 1 kB
    c, wh, s = _run_intake(cfg)
    assert s.seen == 0 and len(s.refused) == 1 and "0.001 MB limit" in s.refused[0]
    assert len(wh.query("select * from raw_files")) == 0


def test_dotdot_path_is_refused():
    import fsspec

    from tasks.intake import _escapes

    fs = fsspec.filesystem("file")
    assert "climbs out" in _escapes(fs, "/srv/share", "/srv/share/../etc/passwd", "../etc/passwd")


def test_file_of_unknown_sample_is_kept_and_quarantined(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S9/a.csv", [(1, 2)])
    c, wh, s = _run_intake(cfg)
    assert len(s.unmapped) == 1 and "S9" in s.unmapped[0]
    assert len(wh.query("select * from raw_files")) == 1  # nothing is lost
    q = wh.query("select reason from quarantine")
    assert "does not define" in q.reason[0]


def test_reintake_is_idempotent(tmp_path):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    c, wh, _ = _run_intake(cfg)
    v = wh.manifest().version
    _, _, s = _run_intake(cfg)
    assert s.new_files == 0
    assert wh.manifest().tables == pipeline.open_warehouse(c).manifest().tables
    assert len(wh.query("select * from sightings")) == 1
    assert wh.manifest().version >= v
