"""DuckDB views over the current manifest: one per table, `current_*` per parameter version, SQL views.

The catalog file (``catalog.duckdb``) is rebuilt after every commit into a temporary file and
swapped in with ``os.replace``: a reader that opened the old one keeps reading a consistent old
snapshot (its data files are never rewritten), a new reader gets the new one. A commit that changes
no file leaves it alone, unless the views themselves changed (their SQL, or a table contract):
``catalogs/<version>.views`` records the ``views_digest`` each snapshot was built with.
"""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from schemas.core import TableSpec, schema_digest
from schemas.platform import PLATFORM_TABLES
from warehouse.faults import fault_point
from warehouse.manifest import Manifest


class StoredTables(Protocol):
    """What the catalog needs of a warehouse (``warehouse.store.Warehouse`` is one): where it is, and
    the data files of a table in a manifest version."""

    root: str
    is_local: bool

    def files(self, table: str, manifest: Manifest, relative: bool = False) -> list[str]: ...

VIEWS_DIR = Path(__file__).parent / "views"
#: the platform's own views (over its tables: samples, quarantine, share files); the techniques
#: declare theirs in ``Technique.views``
PLATFORM_VIEWS = (VIEWS_DIR / "10_samples.sql",)
KEEP_CATALOGS = 20
#: bump when the code that writes the views (table_view_sql, current_view_sql) changes its SQL
VIEWS_FORMAT = 1
SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "float64": "DOUBLE",
             "float32": "FLOAT", "bool": "BOOLEAN", "timestamp": "TIMESTAMPTZ"}


def all_specs() -> dict[str, TableSpec]:
    return _specs_for(specs_key())


def specs_key() -> tuple[tuple[str, str], ...]:
    """What the tables and views depend on besides the manifest: the registered techniques."""
    from foundation.registry import TECHNIQUE_MODULES

    return tuple(sorted(TECHNIQUE_MODULES.items()))


@lru_cache(maxsize=8)
def _specs_for(modules: tuple[tuple[str, str], ...]) -> dict[str, TableSpec]:
    from foundation.registry import available_techniques, technique
    from schemas.marts import MART_TABLES

    specs = {s.name: s for s in PLATFORM_TABLES + MART_TABLES}
    for name in available_techniques():
        for s in technique(name).tables:
            if s.name in specs and specs[s.name] is not s:
                raise RuntimeError(f"table {s.name!r} is declared twice")
            specs[s.name] = s
    return specs


def table_spec(name: str) -> TableSpec:
    specs = all_specs()
    if name not in specs:
        raise KeyError(f"no table {name!r}; tables: {sorted(specs)}")
    return specs[name]


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def table_view_sql(spec: TableSpec, files: list[str], mixed_schemas: bool = False,
                   present: set[str] | None = None) -> str:
    """``present``: the columns the files hold, when some were written before a column was added to
    the contract; the missing ones read as typed NULLs."""
    if files:
        listing = ", ".join(_quote(f) for f in files)
        cols = ", ".join(f'"{c.name}"' if present is None or c.name in present
                         else f'CAST(NULL AS {SQL_TYPES[c.dtype]}) AS "{c.name}"' for c in spec.all_columns)
        # union_by_name reads every file's footer (seconds on many files): only when contracts changed
        return (f'CREATE OR REPLACE VIEW "{spec.name}" AS SELECT {cols} FROM read_parquet([{listing}], '
                f"union_by_name = {'true' if mixed_schemas else 'false'}, hive_partitioning = false)")
    cols = ", ".join(f'CAST(NULL AS {SQL_TYPES[c.dtype]}) AS "{c.name}"' for c in spec.all_columns)
    return f'CREATE OR REPLACE VIEW "{spec.name}" AS SELECT {cols} WHERE false'


def current_view_sql(spec: TableSpec) -> str:
    return (f'CREATE OR REPLACE VIEW "current_{spec.name}" AS SELECT t.* FROM "{spec.name}" t '
            f"WHERE t.params_id IN (SELECT params_id FROM param_sets WHERE active)")


def view_sources() -> list[tuple[str, Path]]:
    """(owner, SQL file) of every view, in build order: the platform's own first, then those each
    registered technique declares (``Technique.views``), techniques in dependency order, so that a
    view may read the views of the platform and of the techniques it comes ``after``."""
    from foundation.registry import ordered_techniques, technique

    sources = [("the platform", path) for path in PLATFORM_VIEWS]
    for name in ordered_techniques():
        sources += [(f"technique {name!r}", Path(path)) for path in technique(name).views]
    return sources


class ViewBuildError(RuntimeError):
    """A declared view's SQL does not run on the current tables: the catalog is not built without it."""


def split_sql(text: str) -> list[str]:
    text = re.sub(r"--[^\n]*", "", text)
    return [s.strip() for s in text.split(";") if s.strip()]


def attach_views(con, wh: StoredTables, manifest: Manifest, relative: bool = False) -> None:
    """Create every view on ``con``: one per table, ``current_*`` per measurement table, then the
    SQL views; a SQL view that fails raises ``ViewBuildError`` naming its owner, file and statement.

    ``relative``: views name their files relative to the warehouse root, which ``con`` must have as
    its ``file_search_path`` (the catalog file; see ``open_catalog``)."""
    specs = all_specs()
    for spec in specs.values():
        _table_view(con, wh, spec, manifest, relative)
    for spec in specs.values():
        if spec.measurement:
            con.execute(current_view_sql(spec))
    for owner, path in view_sources():
        for stmt in split_sql(path.read_text(encoding="utf-8")):
            try:
                con.execute(stmt)
            except Exception as exc:
                raise ViewBuildError(
                    f"a view of {owner} in {path} does not build: {exc}\n{stmt}\n"
                    f"Fix the statement, or declare the technique whose tables it reads in the "
                    f"technique's `after`.") from exc


def _table_view(con, wh: StoredTables, spec: TableSpec, manifest: Manifest, relative: bool = False) -> None:
    schemas = {e.schema for e in manifest.tables.get(spec.name, []) if e.rows > 0}
    files = wh.files(spec.name, manifest, relative=relative)
    present = None
    if files and schemas - {schema_digest(spec)}:  # files older than the contract: read their footers
        head = con.execute("SELECT * FROM read_parquet(?, union_by_name = true) LIMIT 0", [files])
        present = {d[0] for d in head.description}
    con.execute(table_view_sql(spec, files, mixed_schemas=len(schemas) > 1 or present is not None, present=present))


def bound_files(manifest: Manifest) -> dict[str, tuple[tuple[str, str], ...]]:
    """What a table's view is made of in ``manifest``: its data files with rows, and their contracts."""
    return {t: tuple((e.path, e.schema) for e in es if e.rows > 0) for t, es in manifest.tables.items()}


def rebind_views(con, wh: StoredTables, was: Manifest, now: Manifest) -> list[str]:
    """Move the views ``attach_views`` made on ``con`` for ``was`` to ``now``: only the views of tables
    whose files changed are made again, in one transaction (a query on another cursor sees all of
    them before or all after). The other views (``current_*``, the SQL views) name them and follow.
    Rebuilding every view at each commit cost ~0.2 s in every process that queries (the flow, each
    file worker), at every version a run makes. Returns the tables rebound."""
    before, after = bound_files(was), bound_files(now)
    specs = all_specs()
    changed = sorted(t for t in set(before) | set(after) if before.get(t, ()) != after.get(t, ()) and t in specs)
    con.execute("BEGIN TRANSACTION")
    try:
        for name in changed:
            _table_view(con, wh, specs[name], now)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return changed


def views_digest() -> str:
    """What the catalog's views are made of besides the manifest: every table contract's columns and
    every view's SQL (platform and techniques). A change rebuilds the catalog on the next commit, even
    one that changes no data file."""
    parts = [f"format {VIEWS_FORMAT}"]
    parts += [f"{s.name}|{int(s.measurement)}|" + ",".join(f"{c.name}:{c.dtype}" for c in s.all_columns)
              for s in sorted(all_specs().values(), key=lambda s: s.name)]
    parts += [f"{owner}|{path.name}|{path.read_text(encoding='utf-8')}" for owner, path in view_sources()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def catalog_is_current(wh: StoredTables, manifest: Manifest) -> bool:
    """The catalog shows ``manifest`` with today's views (its versioned snapshot exists, built with the
    current ``views_digest``); an object store has no catalog file."""
    return not wh.is_local or current_snapshot(wh, manifest.version) is not None


def current_snapshot(wh: StoredTables, version: int) -> Path | None:
    """``catalogs/<version>.duckdb`` when catalog.duckdb shows that version with today's views, else None."""
    root = Path(wh.root)
    snapshot = root / "catalogs" / f"{version:08d}.duckdb"
    if not (wh.is_local and (root / "catalog.duckdb").exists() and snapshot.exists()):
        return None
    # no digest: built before digests were recorded, or killed before it was written
    return snapshot if _recorded_digest(snapshot) == views_digest() else None


def attach_snapshot(con, snapshot: Path, warehouse_root: str) -> None:
    """Make ``con`` read the views of a catalog snapshot (attached read-only, not opened: DuckDB keeps
    one instance per opened path in a process, which would keep showing a replaced snapshot).
    Each cursor must run ``USE_SNAPSHOT``: a database choice is not inherited."""
    con.execute("ATTACH ? AS wh_catalog (READ_ONLY)", [str(snapshot)])
    con.execute("SET GLOBAL file_search_path = ?", [str(Path(warehouse_root).resolve())])


#: what a cursor of an ``attach_snapshot`` connection runs first
USE_SNAPSHOT = "USE wh_catalog"


def write_catalog(wh: StoredTables, manifest: Manifest) -> Path | None:
    """Rebuild catalog.duckdb for external read-only users (local warehouses only)."""
    if not wh.is_local:
        return None
    import duckdb

    final = Path(wh.root) / "catalog.duckdb"
    tmp = final.with_name(f".catalog-{uuid.uuid4().hex}.duckdb")
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET GLOBAL file_search_path = ?", [str(Path(wh.root).resolve())])
        attach_views(con, wh, manifest, relative=True)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = tmp.with_name(tmp.name + ".wal")
    if wal.exists():
        wal.unlink()
    fault_point("catalog.built")
    # A versioned hard link too: DuckDB caches open databases by path inside a process, so an
    # in-process reader must open a new path to see a new snapshot (see open_catalog).
    versions = final.parent / "catalogs"
    versions.mkdir(exist_ok=True)
    versioned = versions / f"{manifest.version:08d}.duckdb"
    digest = views_digest()
    if not versioned.exists():
        os.link(tmp, versioned)
    elif _recorded_digest(versioned) != digest:  # same version, new views: this snapshot replaces it
        fresh = tmp.with_name(tmp.name + ".link")
        os.link(tmp, fresh)
        os.replace(fresh, versioned)
    fault_point("catalog.linked")
    os.replace(tmp, final)
    fault_point("catalog.replaced")
    # last: a run killed before this line finds no (or an old) digest and builds the catalog again
    _write_text(versioned.with_suffix(".views"), digest)
    for old in sorted(versions.glob("*.duckdb"))[:-KEEP_CATALOGS]:
        old.unlink(missing_ok=True)
        old.with_suffix(".views").unlink(missing_ok=True)
    return final


def _recorded_digest(snapshot: Path) -> str | None:
    try:
        return snapshot.with_suffix(".views").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def open_catalog(warehouse_root: str | Path):
    """Read-only connection on the newest catalog snapshot, as a dashboard or the CLI opens it,
    locked to reading the warehouse's own files (``warehouse.user_sql.open_snapshot``)."""
    from warehouse.user_sql import open_snapshot

    return open_snapshot(warehouse_root)
