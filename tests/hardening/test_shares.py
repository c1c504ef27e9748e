"""Hostile and awkward shares (issue 16, "Shares"): symlinks, files still being written, files replaced
under the same name, oversized files, hashing in constant memory, and names with spaces, unicode and
newlines — each through the real intake code on a toy campaign (tests/support/toy_world.py)."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import fsspec
import pytest

from socscope import pipeline
from socscope.cli import main
from socscope.config import DEFAULT_MAX_FILE_MB, FALLBACK_MAX_FILE_MB, ConfigError, load_campaign, parse_campaign
from tasks import intake as I
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def _intake(cfg):
    c = load_campaign(cfg)
    wh = pipeline.open_warehouse(c)
    return wh, pipeline.intake(c, wh, "t")


def _list(cfg, timeout: float = 20.0):
    """list_share of the toy share, failing (not hanging) if it does not return in ``timeout`` s."""
    c = load_campaign(cfg)
    out: list = []
    t = threading.Thread(target=lambda: out.append(I.list_share(c.shares[0], c)), daemon=True)
    t.start()
    t.join(timeout)
    assert out, f"list_share did not return within {timeout} s"
    return out[0]


def _old(path: Path, age: float = 3600) -> None:
    t = time.time() - age
    os.utime(path, (t, t))


# ----------------------------------------------------------------------------------- 1. symlinks
def test_symlinks_out_of_the_share_are_refused_and_shown_in_status(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    outside = tmp_path / "outside"
    secret = write_csv(outside / "secret.csv", [(9, 9)])
    write_csv(outside / "S1/other.csv", [(8, 8)])
    (tmp_path / "share/S1").mkdir(parents=True)
    os.symlink(secret, tmp_path / "share/S1/link.csv")
    os.symlink(outside / "S1", tmp_path / "share/S1/linked_dir")
    wh, s = _intake(cfg)
    assert s.seen == 0
    assert sorted(r.split(":")[1] for r in s.refused) == ["S1/link.csv", "S1/linked_dir"]
    assert all("outside the share" in r for r in s.refused)
    assert len(wh.query("select * from raw_files")) == 0  # nothing behind either link was read
    q = wh.query("select original_name, status, reason from quarantine order by 1")
    assert q.original_name.tolist() == ["S1/link.csv", "S1/linked_dir"] and set(q.status) == {"refused"}
    capsys.readouterr()
    main(["status", "--config", str(cfg)])
    out = capsys.readouterr().out
    assert "S1/link.csv" in out and "outside the share" in out


def test_a_refusal_is_cleared_once_the_link_is_replaced_by_a_real_file(tmp_path):
    cfg = toy_campaign(tmp_path)
    secret = write_csv(tmp_path / "outside/secret.csv", [(9, 9)])
    (tmp_path / "share/S1").mkdir(parents=True)
    link = tmp_path / "share/S1/link.csv"
    os.symlink(secret, link)
    wh, _ = _intake(cfg)
    assert len(wh.query("select * from quarantine")) == 1
    link.unlink()
    write_csv(link, [(1, 2)])
    wh, s = _intake(cfg)
    assert s.seen == 1 and not s.refused
    assert len(wh.query("select * from quarantine")) == 0


def test_symlinks_inside_the_share_are_followed_once(tmp_path):
    cfg = toy_campaign(tmp_path)
    real = write_csv(tmp_path / "share/S1/real.csv", [(1, 2)])
    os.symlink(real, tmp_path / "share/S1/alias.csv")
    os.symlink(tmp_path / "share/S1", tmp_path / "share/S2")  # a folder alias: its files are listed once, at S1
    wh, s = _intake(cfg)
    assert s.seen == 2 and s.new_files == 1 and not s.refused
    paths = wh.query("select path from sightings order by 1").path.tolist()
    assert paths == ["S1/alias.csv", "S1/real.csv"]


def test_symlink_loops_dangling_links_and_pipes_do_not_hang(tmp_path):
    cfg = toy_campaign(tmp_path)
    d = tmp_path / "share/S1"
    write_csv(d / "good.csv", [(1, 2)])
    for name in ("up1", "up2", "up3"):  # three folder links to the parent: 3**40 paths if followed
        os.symlink(d, d / name)
    os.symlink(d / "b.csv", d / "a.csv")  # a -> b -> a
    os.symlink(d / "a.csv", d / "b.csv")
    os.symlink(d / "missing.csv", d / "dangling.csv")
    os.mkfifo(d / "pipe.csv")  # opening it to hash would block forever
    complete, pending, refused = _list(cfg)
    assert [c.rel_path for c in complete] == ["S1/good.csv"]
    reasons = {r.rel_path: r.reason for r in refused}
    assert set(reasons) == {"S1/a.csv", "S1/b.csv", "S1/dangling.csv", "S1/pipe.csv"}
    assert "symlink loop" in reasons["S1/a.csv"] and "symlink loop" in reasons["S1/b.csv"]
    assert "cannot be followed" in reasons["S1/dangling.csv"]
    assert "not a regular file" in reasons["S1/pipe.csv"]
    wh, s = _intake(cfg)
    assert s.seen == 1 and len(s.refused) == 4


def test_a_bundle_with_a_member_linking_out_of_the_share_is_refused(tmp_path):
    cfg = toy_campaign(tmp_path, bundle_patterns=["**/*.run"])
    secret = write_csv(tmp_path / "outside/secret.csv", [(9, 9)])
    write_csv(tmp_path / "share/S1/ch1.run/data.csv", [(1, 2)])
    os.symlink(secret, tmp_path / "share/S1/ch1.run/extra.csv")
    complete, _, refused = _list(cfg)
    assert not complete and [r.rel_path for r in refused] == ["S1/ch1.run"]
    assert "outside the share" in refused[0].reason
