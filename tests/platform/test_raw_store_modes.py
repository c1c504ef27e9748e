"""Raw store modes: copy (a read-only copy), link (reflink or hard link), reference (kept in place),
and what each does when a file changes behind the platform's back."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.verify import verify_warehouse


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def world(tmp_path: Path, mode: str):
    cfg = toy_campaign(tmp_path, raw_store_mode=mode)
    files = [write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (2, 4)]),
             write_csv(tmp_path / "share/S2/b.csv", [(3, 6)])]
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    pipeline.register_campaign(campaign, wh)
    return campaign, wh, files


def stored(wh) -> dict[str, str]:
    df = wh.query("select original_name, store_path from raw_files")
    return dict(zip(df.original_name.map(lambda n: n.rsplit("/", 1)[-1]), df.store_path))


def values(wh) -> list[tuple]:
    return wh.query("select sample_id, x_m, y_v from current_toy_values order by 1, 2").values.tolist()


def quarantine(wh) -> dict[str, str]:
    df = wh.query("select original_name, reason from quarantine")
    return dict(zip(df.original_name.map(lambda n: n.rsplit("/", 1)[-1]), df.reason))


@pytest.mark.parametrize("mode", ["copy", "link", "reference"])
def test_every_mode_gives_the_same_rows(tmp_path, mode):
    campaign, wh, files = world(tmp_path, mode)
    pipeline.run_local(campaign)
    assert values(wh) == [["S1", 1.0, 4.0], ["S1", 2.0, 8.0], ["S2", 3.0, 12.0]]  # y_v = 2·y (toy scale)
    paths = stored(wh)
    raw_root = Path(pipeline.raw_store_url(campaign))
    kept = [p for p in raw_root.rglob("*") if p.is_file()]
    if mode == "reference":
        assert paths == {"a.csv": str(files[0]), "b.csv": str(files[1])}
        assert kept == []  # nothing copied
    else:
        assert all(Path(p).is_relative_to(raw_root) for p in paths.values()) and len(kept) == 2
        same_inode = os.stat(paths["a.csv"]).st_ino == os.stat(files[0]).st_ino
        assert same_inode == (mode == "link")  # a hard link here (this filesystem has no reflink)
    assert verify_warehouse(wh, pipeline.raw_store_url(campaign)).errors == []


@pytest.mark.parametrize("mode", ["link", "reference"])
def test_a_file_changed_after_intake_is_refused_and_reported(tmp_path, mode):
    campaign, wh, files = world(tmp_path, mode)
    pipeline.intake(campaign, wh)
    files[0].write_text("#toy-csv\n1,200\n2,400\n")  # edited in place, behind the platform's back
    pipeline.process(campaign, wh)
    reasons = quarantine(wh)
    assert set(reasons) == {"a.csv"} and "changed since intake hashed it" in reasons["a.csv"]
    assert "restore the original" in reasons["a.csv"]
    assert values(wh) == [["S2", 3.0, 12.0]]  # never the new bytes under the old hash
    report = verify_warehouse(wh, pipeline.raw_store_url(campaign))
    where = "its share" if mode == "reference" else "the raw store"
    assert any("a.csv" in e or "does not hash" in e for e in report.errors)
    assert any(f"changed in {where}" in e for e in report.errors), report.errors


def test_a_vanished_reference_file_is_reported(tmp_path):
    campaign, wh, files = world(tmp_path, "reference")
    pipeline.intake(campaign, wh)
    files[1].unlink()
    pipeline.process(campaign, wh)
    assert "has vanished since intake took it" in quarantine(wh)["b.csv"]
    report = verify_warehouse(wh, pipeline.raw_store_url(campaign))
    assert any("is missing from its share" in e for e in report.errors), report.errors


def test_a_copy_does_not_see_a_later_edit(tmp_path):
    campaign, wh, files = world(tmp_path, "copy")
    pipeline.intake(campaign, wh)
    files[0].write_text("#toy-csv\n1,200\n2,400\n")
    pipeline.process(campaign, wh)
    assert quarantine(wh) == {}
    assert values(wh)[:2] == [["S1", 1.0, 4.0], ["S1", 2.0, 8.0]]  # the bytes intake took


def test_a_mode_that_is_not_known_is_refused_at_load(tmp_path):
    from foundation.config import ConfigError

    with pytest.raises(ConfigError, match="raw_store_mode"):
        load_campaign(toy_campaign(tmp_path, raw_store_mode="move"))
