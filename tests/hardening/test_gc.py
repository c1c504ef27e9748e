"""`socscope gc` after a killed run: it removes the killed run's orphaned files (once they are older than
the age limit) and the files only versions beyond ``--keep-versions`` name, and keeps every file the
current snapshot or a kept version needs — checked against the manifests read here, independently."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from socscope.cli import main
from tests.support import fault_world as W
from tests.support.fault_world import toy_plugin, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
TWO_DAYS = 2 * 86400


def _named_by(wh: Path, last: int | None = None) -> set[str]:
    """Data files the last ``last`` manifest versions (all if None) name, read from their JSON."""
    paths = sorted((wh / "manifests").glob("*.json"))
    out = set()
    for p in paths[-last:] if last else paths:
        for entries in json.loads(p.read_text())["tables"].values():
            out.update(e["path"] for e in entries)
    return out


def _data_files(wh: Path) -> set[str]:
    return {str(p.relative_to(wh)) for p in (wh / "data").rglob("*") if p.is_file()}


def _age(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    for p in folder.rglob("*"):
        os.utime(p, (then, then), follow_symlinks=False)


def _cli(*args: str) -> int:
    return main(list(args))


def test_gc_removes_what_a_killed_run_left_and_keeps_what_snapshots_need(world, tmp_path, capsys):
    template, reference = world
    cfg = W.copy_world(template, tmp_path / "w")
    wh = cfg.parent / "wh"
    killed = W.run(cfg, SOCSCOPE_KILL_AT="process.echem.written")  # echem's files written, never committed
    assert killed.returncode == -9
    orphans = _data_files(wh) - _named_by(wh)
    assert orphans, "the killed run left no orphaned data file"
    assert W.run(cfg).returncode == 0
    W.write_toy(cfg.parent / "share", "S2", 7)  # a later run supersedes upserted tables' files
    assert W.run(cfg).returncode == 0
    after = W.warehouse_digests(cfg)
    assert _data_files(wh) >= orphans

    assert _cli("gc", "--config", str(cfg)) == 0  # everything is younger than a day: nothing goes
    assert _data_files(wh) >= orphans

    _age(cfg.parent, TWO_DAYS)
    keep20 = _named_by(wh, 20)
    assert _cli("gc", "--config", str(cfg)) == 0
    assert _data_files(wh) == keep20 and not (orphans & _data_files(wh))
    assert "removed" in capsys.readouterr().out
    assert _cli("verify", "--config", str(cfg)) == 0, capsys.readouterr().out
    assert W.warehouse_digests(cfg) == after

    current = _named_by(wh, 1)
    assert _cli("gc", "--config", str(cfg), "--keep-versions", "1") == 0
    assert _data_files(wh) == current
    assert [p.name for p in (wh / "catalogs").glob("*.duckdb")] == [sorted((wh / "manifests").glob("*"))[-1].stem + ".duckdb"]
    assert _cli("verify", "--config", str(cfg), "--keep-versions", "1") == 0, capsys.readouterr().out
    assert W.warehouse_digests(cfg) == after
    assert not list((cfg.parent / "raw").rglob("*.tmp")) and not list(wh.glob(".catalog-*"))
