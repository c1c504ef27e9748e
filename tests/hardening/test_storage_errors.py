"""Disk full and read-only storage, by injecting the error where the write happens (tests run as root,
where chmod stops nothing; no loop mount needed). A failing write must leave the last committed
snapshot current, say what happened in one message (no traceback, nothing quarantined), and the
next run after space returns must complete with the same tables as a run that never failed."""
from __future__ import annotations

import builtins
import errno
import os
import shutil

import pytest

from socscope.cli import main
from tasks import pipeline
from tests.support.fault_world import table_digests
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse import faults
from warehouse.faults import StorageError
from warehouse.verify import CATALOG_BEHIND, verify_warehouse

REAL_OPEN = builtins.open


def _share(root):
    cfg = toy_campaign(root)
    for sample in ("S1", "S2"):
        write_csv(root / "share" / sample / "a.csv", [(1, 2.0), (2, float(sample[1]))])
    return cfg


def _add_file(root):
    return write_csv(root / "share" / "S2" / "late.csv", [(1, 7.0), (2, 8.0), (3, 9.0)])


def _digests(cfg) -> dict:
    wh = pipeline.open_warehouse(pipeline.load_campaign(cfg))
    con = wh.connect()
    try:
        return table_digests(con, ["raw_files", "sightings", "ingest_events", "toy_values", "toy_summary"],
                             str(cfg.parent.resolve()))
    finally:
        con.close()


def _failing_open(code: int, where: str):
    """``open`` that refuses to create files whose path contains ``where``, as a full disk would."""
    def fake(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax") and where in str(file):
            raise OSError(code, os.strerror(code), str(file))
        return REAL_OPEN(file, mode, *args, **kwargs)
    return fake


def _failing_fsync(code: int):
    def fake(*args):
        raise OSError(code, os.strerror(code))
    return fake


def _fail_at(point: str):
    """Arm a fault point to raise, here and in any file worker (they inherit the environment)."""
    def inject(mp, code: int) -> None:
        mp.setenv("SOCSCOPE_FAIL_AT", f"{point}:{code}")
        faults.arm()
    return inject


# where the write fails -> how to inject it (a full disk often shows only at fsync: delayed allocation)
INJECT = {
    # a technique's rows (written by process_file, which quarantines what it cannot read)
    "data file": _fail_at("store.write.toy_values"),
    "manifest": lambda mp, code: mp.setattr("warehouse.store.os.fsync", _failing_fsync(code)),
    "raw store": lambda mp, code: mp.setattr("tasks.intake.open", _failing_open(code, "/raw/"), raising=False),
}


@pytest.fixture(autouse=True)
def disarm():
    yield
    os.environ.pop("SOCSCOPE_FAIL_AT", None)  # (monkeypatch restores it too; this runs after, to re-read it)
    faults.arm()


@pytest.fixture
def worlds(tmp_path, monkeypatch):
    """A warehouse after one good run plus a new file, and a copy processed without failure (reference)."""
    use_toy_registry(monkeypatch)
    cfg = _share(tmp_path / "w")
    shutil.copytree(tmp_path / "w", tmp_path / "ref")  # (raw_files name the raw store by absolute path)
    ref = tmp_path / "ref" / "campaign.yaml"
    for config in (cfg, ref):
        pipeline.run_local(config)
    late = _add_file(tmp_path / "w")
    shutil.copy2(late, tmp_path / "ref" / late.relative_to(tmp_path / "w"))  # same bytes, same mtime
    pipeline.run_local(ref)
    return cfg, _digests(ref)


@pytest.mark.parametrize("where", sorted(INJECT))
@pytest.mark.parametrize("code, says, todo", [
    (errno.ENOSPC, "no space left on device while writing", "free space and run again"),
    (errno.EROFS, "the storage is read-only while writing", "make it writable and run again"),
])
def test_a_refused_write_leaves_the_last_snapshot_and_the_next_run_completes(worlds, monkeypatch, where, code,
                                                                             says, todo):
    cfg, reference = worlds
    wh = pipeline.open_warehouse(pipeline.load_campaign(cfg))
    with monkeypatch.context() as mp:
        INJECT[where](mp, code)
        with pytest.raises(StorageError) as info:
            pipeline.run_local(cfg)
    faults.arm()  # space is back
    message = str(info.value)
    now = wh.manifest().version
    assert says in message and todo in message, message
    assert f"the warehouse is unchanged at version {now}" in message
    assert verify_warehouse(wh, str(cfg.parent / "raw")).ok  # no half commit visible, catalog current
    late = wh.query("select status, reason from ingest_events where original_name = 'late.csv'")
    assert (late.status == "ok").all(), late  # the storage's failure is not the file's: nothing quarantined
    pipeline.run_local(cfg)
    assert _digests(cfg) == reference
    assert verify_warehouse(wh, str(cfg.parent / "raw")).ok


def test_a_full_disk_while_rebuilding_the_catalog_says_the_data_is_committed(worlds, monkeypatch):
    cfg, reference = worlds
    wh = pipeline.open_warehouse(pipeline.load_campaign(cfg))
    with monkeypatch.context() as mp:
        mp.setattr("warehouse.catalog.os.link", _failing_fsync(errno.ENOSPC))
        with pytest.raises(StorageError) as info:
            pipeline.run_local(cfg)
    version = wh.manifest().version
    assert f"the data is committed at version {version} but the catalog still shows an earlier one" in str(info.value)
    assert [e for e in verify_warehouse(wh).errors if not e.startswith(CATALOG_BEHIND)] == []
    pipeline.run_local(cfg)
    assert _digests(cfg) == reference and verify_warehouse(wh).ok


def test_the_command_line_says_it_in_one_line(worlds, monkeypatch, capsys):
    cfg, _ = worlds
    INJECT["data file"](monkeypatch, errno.ENOSPC)
    assert main(["run", "--local", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on device while writing data/toy_values/"), err
    assert "Traceback" not in err
    assert "the warehouse is unchanged at version" in err
