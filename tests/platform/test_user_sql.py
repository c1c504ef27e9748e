"""SQL typed by people can read the warehouse and nothing else: no writes, no host files, no settings."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from foundation.config import load_campaign
from socscope.cli import main
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.catalog import open_catalog
from warehouse.user_sql import RefusedQuery, run_user_sql


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


@pytest.fixture
def warehouse(tmp_path):
    """(config path, warehouse root) of a toy campaign with one processed file: toy_values y = 4.0."""
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    pipeline.run_local(cfg)
    campaign = load_campaign(cfg)
    return cfg, Path(campaign.resolve(campaign.storage.warehouse))


def _data_files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted((root / "data").rglob("*.parquet"))}


HOSTILE = {
    "copy over a data file": "COPY (SELECT 1 AS y_v) TO '{data_file}' (FORMAT parquet)",
    "copy over the manifest": "COPY (SELECT 1) TO '{root}/MANIFEST.json'",
    "copy anywhere": "COPY (SELECT 1) TO '/tmp/socscope-hostile.csv'",
    "read a host file": "SELECT * FROM read_text('/etc/passwd')",
    "read a host blob": "SELECT * FROM read_blob('/etc/hostname')",
    "read a host csv": "SELECT * FROM read_csv('/etc/passwd')",
    "glob the host": "SELECT * FROM glob('/etc/*')",
    "attach a database": "ATTACH '/tmp/socscope-hostile.duckdb' AS x",
    "install an extension": "INSTALL httpfs",
    "load an extension": "LOAD httpfs",
    "change a setting": "SET enable_external_access = true",
    "two statements": "SELECT 1; SELECT 2",
    "explain analyze a copy": "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/socscope-hostile.csv'",
    "pragma": "PRAGMA database_list",
    "create a table": "CREATE TABLE t AS SELECT 1",
    "environment": "SELECT getenv('HOME')",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_query_is_refused_and_changes_nothing(warehouse, name):
    cfg, root = warehouse
    before = _data_files(root)
    manifest = (root / "MANIFEST.json").read_bytes()
    sql = HOSTILE[name].format(data_file=next(iter(before)), root=root)
    con = open_catalog(root)
    try:
        with pytest.raises(RefusedQuery) as refusal:
            run_user_sql(con, sql)
    finally:
        con.close()
    assert "\n" not in str(refusal.value) and str(refusal.value)
    assert _data_files(root) == before and (root / "MANIFEST.json").read_bytes() == manifest
    assert not Path("/tmp/socscope-hostile.csv").exists() and not Path("/tmp/socscope-hostile.duckdb").exists()


def test_selects_read_the_warehouse_with_bound_parameters_and_limits(warehouse):
    _, root = warehouse
    con = open_catalog(root)
    try:
        assert run_user_sql(con, "select y_v from toy_values").frame.y_v.tolist() == [4.0]
        assert run_user_sql(con, "select $v::double * 2 as w", {"v": "1.5"}).frame.w.tolist() == [3.0]
        cut = run_user_sql(con, "select * from range(10)", max_rows=3)
        assert cut.truncated and len(cut.frame) == 3
        assert not run_user_sql(con, "select * from range(3)", max_rows=3).truncated
        with pytest.raises(RefusedQuery, match="longer than 0.2 s"):
            run_user_sql(con, "select count(*) from range(10000000000) a", timeout_s=0.2)
    finally:
        con.close()


def test_a_copied_warehouse_reads_its_own_files(warehouse, tmp_path):
    _, root = warehouse
    copy = tmp_path / "moved-warehouse"
    shutil.copytree(root, copy)
    for parquet in (root / "data").rglob("*.parquet"):
        parquet.unlink()  # the original's files are gone: the copy must not need them
    con = open_catalog(copy)
    try:
        assert run_user_sql(con, "select y_v from toy_values").frame.y_v.tolist() == [4.0]
    finally:
        con.close()


@pytest.mark.parametrize("argv, says", [
    (["--name", "../../../../tmp/x"], "no query named"),
    (["--name", "feature_vs_soc", "--param", "feature"], "--param takes name=value"),
    (["COPY (SELECT 1) TO '/tmp/socscope-hostile.csv'"], "only SELECT"),
    (["select * from no_such_table"], "no_such_table"),
])
def test_cli_says_one_line_and_exits_2(warehouse, capsys, argv, says):
    cfg, _ = warehouse
    assert main(["query", "--config", str(cfg), *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


QUERY_PROBE = """
import sys
from socscope.cli import main
code = main(["query", "--config", sys.argv[1], sys.argv[2]])
heavy = sorted(m for m in ("prefect", "pandas", "pyarrow", "rich", "pydantic", "fsspec", "pandera", "yaml",
                           "socscope.server", "socscope.dashboard", "socscope.operator_cli", "socscope.export_cli")
               if m in sys.modules)
print("HEAVY", code, *heavy)
"""


def test_query_to_a_pipe_is_plain_and_imports_none_of_the_heavy_libraries(warehouse):
    """`socscope query` on a local warehouse answers with DuckDB alone: a one-row question must not pay
    for importing Prefect, pandas, pyarrow, rich or the campaign model (issue 22: <= 0.3 s); nor PyYAML when
    the storage block is plainly written (as in the demo's config), nor the optional command groups."""
    import os
    import subprocess
    import sys

    import yaml

    cfg, _ = warehouse
    data = yaml.safe_load(cfg.read_text())
    storage = data.pop("storage")
    cfg.write_text(yaml.safe_dump({"storage": storage}) + yaml.safe_dump(data))
    sql = "select y_v, 'a' || chr(9) || 'b' as tabbed, null as nothing from toy_values"
    done = subprocess.run([sys.executable, "-c", QUERY_PROBE, str(cfg), sql], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}, timeout=120)
    lines = done.stdout.splitlines()
    assert lines[-1] == "HEAVY 0", done.stdout + done.stderr  # exit 0, no heavy module imported
    # not a terminal: a tab-separated header and row; the tab inside a value escaped, NULL empty
    assert lines[:-1] == ["y_v\ttabbed\tnothing", "4.0\ta\\tb\t"]
