"""A re-run with nothing new hashes nothing, rebuilds nothing and rewrites nothing (issue 22), and the
stat cache's blind spot (content changed behind an unchanged size and mtime) is closed by the periodic
full re-hash when a share asks for it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from foundation.config import load_campaign
from socscope.cli import main
from tasks import intake as I
from tasks import pipeline
from tasks.nothing_new import what_is_new
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse import marts


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


@pytest.fixture
def hashed(monkeypatch):
    """The share paths intake hashes (store_candidate reads and hashes a file), in order."""
    seen: list[str] = []
    real = I.store_candidate

    def spy(cand, *args, **kwargs):
        seen.append(cand.rel_path)
        return real(cand, *args, **kwargs)

    monkeypatch.setattr(I, "store_candidate", spy)
    return seen


def _campaign(tmp_path: Path, **share_kw) -> Path:
    cfg = toy_campaign(tmp_path, **share_kw)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])
    return cfg


def _full_run(cfg: Path):
    pipeline.run_local(cfg)
    c = load_campaign(cfg)
    wh = pipeline.open_warehouse(c)
    marts.build_marts(c, wh, "local")
    return c, wh


def test_rerun_with_nothing_new_hashes_rebuilds_and_commits_nothing(tmp_path, hashed):
    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    assert sorted(hashed) == ["S1/a.csv", "S2/b.csv"]
    version = wh.manifest().version
    assert what_is_new(c, wh) == []
    hashed.clear()
    pipeline.intake(c, wh, "again")
    assert hashed == []  # the stat cache: same path, size and mtime
    pipeline.register_campaign(c, wh, "again")  # same config rows: no commit
    built = marts.build_marts(c, wh, "again")
    assert built["soc_profile"]["rebuilt"] == [] and "correlations" not in built  # nothing rebuilt
    assert wh.manifest().version == version  # no new manifest, so no catalog rewrite either


def test_what_is_new_sees_a_new_file_a_touched_file_a_config_change_and_stale_marts(tmp_path, hashed):
    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    write_csv(tmp_path / "share/S1/c.csv", [(3, 4)])
    assert any("1 new or changed path(s), e.g. S1/c.csv" in n for n in what_is_new(c, wh))
    pipeline.run_local(cfg)
    assert what_is_new(c, wh) == ["marts to rebuild: soc_profile of 1 scope(s) (S1)"]
    marts.build_marts(c, wh, "local")
    assert what_is_new(c, wh) == []
    later = os.stat(tmp_path / "share/S2/b.csv").st_mtime - 10
    os.utime(tmp_path / "share/S2/b.csv", (later, later))  # touched: the stat differs, intake looks again
    assert any("e.g. S2/b.csv" in n for n in what_is_new(c, wh))
    pipeline.run_local(cfg)
    data = yaml.safe_load(cfg.read_text())
    data["samples"][0]["soc_nominal_pct"] = 40
    cfg.write_text(yaml.safe_dump(data))
    assert "samples, cells or parameter sets changed" in what_is_new(load_campaign(cfg), wh)[0]


def _same_size_same_mtime_edit(path: Path) -> None:
    """New content of the same length, the mtime put back: invisible to a stat."""
    st = path.stat()
    text = path.read_text()
    path.write_text(text.replace("1,2", "7,8"))
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _current_sha(wh, rel: str) -> str:
    return wh.query("select raw_sha256 from sightings where path = ? and superseded_at is null", [rel]).raw_sha256[0]


def test_stat_cache_trusts_an_unchanged_stat_and_the_periodic_rehash_finds_the_edit(tmp_path, hashed):
    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    before = _current_sha(wh, "S1/a.csv")
    _same_size_same_mtime_edit(tmp_path / "share/S1/a.csv")
    pipeline.intake(c, wh, "trusting")
    assert _current_sha(wh, "S1/a.csv") == before  # documented blind spot without rehash_every_days
    data = yaml.safe_load(cfg.read_text())
    data["shares"][0]["rehash_every_days"] = 30
    cfg.write_text(yaml.safe_dump(data))
    c = load_campaign(cfg)
    assert what_is_new(c, wh) == ["share lab: due for its full re-hash"]  # never re-hashed yet
    hashed.clear()
    pipeline.intake(c, wh, "rehash")
    assert sorted(hashed) == ["S1/a.csv", "S2/b.csv"]
    assert _current_sha(wh, "S1/a.csv") != before  # the edit is a new version now
    hashed.clear()
    pipeline.intake(c, wh, "within-30-days")
    assert hashed == []  # the next full re-hash is 30 days away


def test_cli_run_with_nothing_new_does_not_start_prefect(tmp_path, capsys, monkeypatch):
    import socscope.cli

    cfg = _campaign(tmp_path)
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    capsys.readouterr()

    def no_prefect(*args, **kwargs):
        raise AssertionError("Prefect must not start when nothing is new")

    monkeypatch.setattr(socscope.cli, "prefect_env", no_prefect)  # the first step of the Prefect path
    assert main(["run", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "nothing new" in out and "this run: 0 new of 2 files seen; 0 processed" in out
    write_csv(tmp_path / "share/S1/c.csv", [(3, 4)])
    with pytest.raises(AssertionError, match="must not start"):
        main(["run", "--config", str(cfg)])
    assert "new since the last run: share lab: 1 new or changed path(s)" in capsys.readouterr().out


def test_the_catalog_is_rewritten_when_its_views_change_and_not_otherwise(tmp_path, monkeypatch):
    """A commit that changes no data file rewrites no catalog, unless the view SQL changed since the
    catalog was built (then the snapshot of the same version is replaced, and readers see the view)."""
    import warehouse.catalog as C
    from warehouse.catalog import open_catalog

    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    version, written = wh.manifest().version, []
    real = C.write_catalog
    monkeypatch.setattr(C, "write_catalog", lambda w, m: written.append(m.version) or real(w, m))
    pipeline.register_campaign(c, wh, "again")  # same rows: a commit that changes nothing
    assert written == []
    extra = tmp_path / "99_extra.sql"
    extra.write_text("-- a view added by an upgrade\nCREATE OR REPLACE VIEW extra_view AS SELECT 42 AS answer;\n")
    monkeypatch.setattr(C, "PLATFORM_VIEWS", C.PLATFORM_VIEWS + (extra,))
    assert what_is_new(c, wh) == []  # no data to process: the catalog is rebuilt on the way
    assert written == [version] and wh.manifest().version == version
    con = open_catalog(wh.root)
    assert con.execute("select answer from extra_view").fetchall() == [(42,)]
    con.close()
    pipeline.register_campaign(c, wh, "again")
    assert written == [version]  # built with these views already
    extra.write_text("CREATE OR REPLACE VIEW extra_view AS SELECT 43 AS answer;\n")  # the SQL of a view changed
    pipeline.register_campaign(c, wh, "again")
    assert written == [version, version]
