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


def test_the_run_log_written_after_the_marts_leaves_nothing_new(tmp_path):
    """A flow run logs itself (flow_runs) after its marts; that row is no input of any mart, so the
    next run finds nothing new (it found quality and warnings stale, and rebuilt them every time)."""
    from datetime import datetime, timezone

    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    version = wh.manifest().version
    pipeline.log_run(c, wh, "a-flow-run", "campaign", datetime.now(timezone.utc))
    assert wh.manifest().version == version + 1  # the log row is committed
    assert what_is_new(c, wh) == []


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


def test_each_derived_mart_is_rebuilt_only_when_a_table_it_reads_changed(tmp_path, monkeypatch):
    """Per mart, not all or nothing: a quarantined file changes raw_files and the quarantine but no
    soc_profile row, so correlations (profile, AFM pairs) stay as they were while findings (they name
    raw files), quality, warnings and the report are rebuilt; the marts' warnings of the correlations
    then come from the committed correlations table, the same as a build gives them."""
    from foundation.parameters import load_params
    from warehouse.marts import correlations
    from warehouse.marts.parameters import MartsParameters

    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    calls = []
    real = correlations.build
    monkeypatch.setattr(correlations, "build", lambda *a, **k: calls.append(a) or real(*a, **k))
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    pipeline.run_local(cfg)
    assert what_is_new(c, wh) == ["marts to rebuild: findings, quality, warnings (and the marts that read them)"]
    built = marts.build_marts(c, wh, "after-a-refusal")
    assert built["soc_profile"]["rebuilt"] == [] and calls == []
    assert {"findings", "quality", "warnings", "report"} <= set(built) and "correlations" not in built
    assert what_is_new(c, wh) == []
    elsewhere = tmp_path / "reports-elsewhere"
    built = marts.build_marts(c, wh, "report-elsewhere", report_dir=elsewhere)
    assert [m for m in marts.DERIVED if m in built] == ["report"]  # only the report goes somewhere new
    params = load_params(marts.PARAMS_FILE, MartsParameters)
    fresh = real(c, wh, "compare", params.values, params.id)["warnings"]
    stored = marts.stored_correlation_warnings(wh, params)
    assert stored.reset_index(drop=True).equals(fresh.reset_index(drop=True))


PLUGINS_PROBE = """
import sys
from foundation.registry import available_techniques, technique
from warehouse.catalog import views_digest
names = available_techniques()
for name in names:
    technique(name)
views_digest()
print("LOADED", len(names), *sorted(m for m in ("scipy", "prefect", "streamlit", "lmfit") if m in sys.modules))
"""


def test_loading_the_technique_plugins_imports_no_analysis_library():
    """A no-op re-run loads every technique plugin (its parameters, tables, views) but analyses nothing:
    the pattern analysis' scipy (~0.3 s) and Prefect are imported only where they are used."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", PLUGINS_PROBE], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert last.startswith("LOADED") and int(last.split()[1]) >= 4, last  # afm, echem, nexafs, sxpd at least
    assert last.split()[2:] == [], last


def test_queries_read_the_current_catalog_snapshot_and_build_views_only_without_one(tmp_path):
    """Internal queries attach the version's catalog snapshot (its views are built already) when it is
    current; a snapshot whose views digest is missing or stale is not used: the views are built in
    memory, and the answer is the same."""
    from warehouse.store import Warehouse

    cfg = _campaign(tmp_path)
    c, wh = _full_run(cfg)
    sql = "select path, size_bytes from sightings order by path"
    fresh = Warehouse(wh.url)
    attached = fresh.query(sql)
    assert fresh._query_attached
    digest = Path(wh.root) / "catalogs" / f"{wh.manifest().version:08d}.views"
    digest.write_text("views of an older release")
    built = Warehouse(wh.url)
    assert built.query(sql).equals(attached) and not built._query_attached


NOOP_PROBE = """
import sys
from socscope.cli import main
code = main(sys.argv[1:])
HEAVY = ("pandas.core.frame", "pandera", "pyarrow.compute", "pyarrow.dataset", "matplotlib", "scipy")
print("RAN", code, *sorted(m for m in HEAVY if m in sys.modules))
"""


def test_a_rerun_with_nothing_new_runs_no_pandas_code(tmp_path):
    """Every technique plugin is loaded by a no-op re-run, and their reader modules ``import pandas``, but
    the re-run builds no frame: pandas stays the stand-in of foundation/deferred.py (its own code never
    runs, ~0.45 s), and pandera, pyarrow's compute (imported where used) and dataset, matplotlib and scipy
    are not imported. A run with work imports the real pandas before it starts."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    cfg = _campaign(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root), "SOCSCOPE_PLUGINS": "toy=tests.support.toy_technique"}

    def run() -> tuple[str, list[str]]:
        done = subprocess.run([sys.executable, "-c", NOOP_PROBE, "run", "--local", "--config", str(cfg)],
                              check=False, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        assert last.startswith("RAN 0"), done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout, last.split()[2:]

    out, imported = run()
    assert "nothing new" not in out and "pandas.core.frame" in imported  # the first run: frames
    out, imported = run()
    assert "nothing new" in out and "this run: 0 new of 2 files seen" in out
    assert imported == [], imported
    write_csv(tmp_path / "share/S1/c.csv", [(3, 4)])
    out, imported = run()
    assert "new since the last run" in out and "pandas.core.frame" in imported


def test_a_deferred_module_is_bound_by_import_and_imported_at_its_first_attribute(monkeypatch):
    """foundation/deferred.py: ``import name`` binds the stand-in without running the module; the first
    attribute asked imports the real one, whose objects the stand-in then gives (the same ones)."""
    import importlib
    import sys

    from foundation import deferred

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    stand_in = deferred.defer("colorsys")
    bound = importlib.import_module("colorsys")  # what `import colorsys` does
    assert bound is stand_in and deferred.is_deferred("colorsys")
    assert bound.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # independent: pure red is hue 0, full saturation
    real = sys.modules["colorsys"]
    assert real is not stand_in and not deferred.is_deferred("colorsys")
    assert bound.rgb_to_hsv is real.rgb_to_hsv and deferred.load("colorsys") is real


def test_campaign_registered_says_yes_only_when_registering_commits_nothing(tmp_path):
    """The no-op check's rows answer (pipeline.campaign_registered) against what registering does: the
    same config, and one without a sample (the merge keeps stored rows), commit nothing; a changed SOC
    label or description is a commit, and the rows answer is no."""
    cfg = _campaign(tmp_path)
    _, wh = _full_run(cfg)
    original = yaml.safe_load(cfg.read_text())

    def variant(edit) -> bool:
        data = yaml.safe_load(yaml.safe_dump(original))
        edit(data)
        cfg.write_text(yaml.safe_dump(data))
        campaign, before = load_campaign(cfg), wh.manifest().version
        says = pipeline.campaign_registered(campaign, wh)
        assert says == (pipeline.register_campaign(campaign, wh).version == before)
        return says

    assert variant(lambda d: None)
    assert variant(lambda d: d["samples"].pop())
    assert not variant(lambda d: d["samples"][0].update(soc_nominal_pct=40))
    assert not variant(lambda d: d["samples"][1].update(description="re-labelled"))


def test_sample_facts_spell_each_sample_as_the_fingerprints_always_did(tmp_path):
    """The profile scopes' fingerprints hold each sample's facts as text; read as rows now (no pandas), the
    text must stay what the frame gave (``.values.tolist()``, NULL as nan), or every scope of every
    warehouse would be rebuilt once after the upgrade."""
    from warehouse.marts.profile import sample_facts, samples_frame

    cfg = _campaign(tmp_path)
    _, wh = _full_run(cfg)
    frame = samples_frame(wh)
    assert frame["soc_measured_pct"].isna().any()  # a NULL is among the facts spelt
    assert sample_facts(wh) == {sid: str(frame[frame.sample_id == sid].values.tolist()) for sid in frame["sample_id"]}
