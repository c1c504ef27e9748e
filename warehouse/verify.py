"""`socscope verify`: is every file the warehouse names there, and unchanged since it was written?

Checked, for the current manifest and the kept versions (those ``collect_garbage`` keeps):
- every data file exists, holds the rows the manifest says and has the sha256 recorded at write time
  (manifests written before checksums were recorded get a warning, not an error);
- every raw file the ``raw_files`` table names exists and hashes to its sha256, and every file of the
  raw store hashes to its name;
- every catalog snapshot's views read exactly the files of their manifest version, and the newest
  snapshot is the current version (so no orphaned or missing file is ever visible to a reader).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.parquet as pq

from warehouse.store import MANIFEST, FileEntry, Manifest, Warehouse

CHUNK = 1 << 20
#: the file list of a table view, as written (``[...]``) or as DuckDB stores it (``list_value(...)``)
_READ_PARQUET = re.compile(r"read_parquet\((.*?)union_by_name", re.S)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_SHA_NAME = re.compile(r"^[0-9a-f]{64}$")
#: how a report line starts when the catalog is a consistent but older snapshot (a commit killed
#: between the manifest and the catalog): old data, never a mix or a missing file
CATALOG_BEHIND = "catalog behind"


@dataclass
class VerifyReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def sha256_of(fs: fsspec.AbstractFileSystem, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def kept_manifests(wh: Warehouse, keep: int = 20) -> dict[int, Manifest]:
    """The current manifest and the last ``keep`` versions, by version."""
    out: dict[int, Manifest] = {}
    for p in sorted(wh.fs.glob(wh._abs("manifests/*.json")))[-keep:]:
        m = Manifest.from_json(wh.fs.cat_file(p).decode())
        out[m.version] = m
    current = wh.manifest()
    out[current.version] = current
    return out


def verify_warehouse(wh: Warehouse, raw_store: str | None = None, storage_options: dict[str, Any] | None = None,
                     keep: int = 20) -> VerifyReport:
    report = VerifyReport()
    try:
        manifests = kept_manifests(wh, keep)
    except (ValueError, KeyError) as exc:
        report.errors.append(f"{MANIFEST} or a kept manifest cannot be read ({type(exc).__name__}: {exc}); "
                             f"restore it from manifests/<version>.json")
        return report
    current = wh.manifest()
    _check_data_files(wh, manifests, current, report)
    _check_raw_files(wh, current, raw_store, storage_options, report)
    if wh.is_local:
        _check_catalogs(wh, manifests, current, report)
    return report


def _check_data_files(wh: Warehouse, manifests: dict[int, Manifest], current: Manifest, report: VerifyReport) -> None:
    entries: dict[str, tuple[str, FileEntry, list[int]]] = {}
    for version, m in sorted(manifests.items()):
        for table, es in m.tables.items():
            for e in es:
                entries.setdefault(e.path, (table, e, []))[2].append(version)
    unchecked = 0
    for path, (table, e, versions) in sorted(entries.items()):
        where = f"data file {path} (table {table}, manifest version {_versions(versions)})"
        full = wh._abs(path)
        if not wh.fs.exists(full):
            report.errors.append(f"{where} is missing")
            continue
        if not e.sha256:
            unchecked += 1
        elif sha256_of(wh.fs, full) != e.sha256:
            report.errors.append(f"{where} changed after it was written: its sha256 is not the one recorded")
            continue
        rows = _parquet_rows(wh, full)
        if rows != e.rows:
            report.errors.append(f"{where} holds {rows} rows, the manifest says {e.rows}")
    if unchecked:
        report.warnings.append(f"{unchecked} data files have no checksum recorded (written before checksums were "
                               f"kept): only their presence and row counts were checked")
    report.checked["data_files"] = len(entries)
    report.checked["manifest_versions"] = len(manifests)


def _versions(versions: list[int]) -> str:
    return str(versions[0]) if len(versions) == 1 else f"{versions[0]}..{versions[-1]}"


def _parquet_rows(wh: Warehouse, full: str) -> int | str:
    try:
        with wh.fs.open(full, "rb") as fh:
            return pq.ParquetFile(fh).metadata.num_rows
    except Exception as exc:  # a file that is not Parquet any more is a finding, not a crash
        return f"no readable Parquet footer ({type(exc).__name__})"


def _raw_file_home(store_fs: Any, store_root: str | None, store_path: str,
                   storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    """The filesystem that holds a raw file and how to name it: the raw store, or — for a share kept
    in place (raw_store_mode reference) — the archive it was found in."""
    if "://" in store_path:
        return fsspec.core.url_to_fs(store_path)[0], "its archive (kept in place, not copied)"
    if store_root and not store_path.startswith(store_root.rstrip("/")) and store_path.startswith("/"):
        return fsspec.filesystem("file"), "its share (kept in place, not copied)"
    return store_fs, "the raw store"


def _check_raw_files(wh: Warehouse, current: Manifest, raw_store: str | None,
                     storage_options: dict[str, Any] | None, report: VerifyReport) -> None:
    fs, root = fsspec.core.url_to_fs(raw_store, **(storage_options or {})) if raw_store else (wh.fs, None)
    named: dict[str, str] = {}
    for e in current.tables.get("raw_files", []):
        if e.rows and wh.fs.exists(wh._abs(e.path)):
            with wh.fs.open(wh._abs(e.path), "rb") as fh:
                t = pq.read_table(fh, columns=["raw_sha256", "store_path"])
            named.update(zip(t.column("store_path").to_pylist(), t.column("raw_sha256").to_pylist()))
    for store_path, sha in sorted(named.items()):
        file_fs, where = _raw_file_home(fs, root, store_path, storage_options)
        if not file_fs.exists(store_path):
            report.errors.append(f"raw file {store_path} (sha256 {sha[:12]}…, in raw_files) is missing from {where}")
        elif sha256_of(file_fs, store_path) != sha:
            report.errors.append(f"raw file {store_path} does not hash to its sha256 {sha[:12]}…: it changed in {where}")
    report.checked["raw_files"] = len(named)
    if root is None or not fs.exists(root.rstrip("/")):
        return
    stray = 0
    for path in fs.find(root.rstrip("/")):
        name = path.rsplit("/", 1)[-1]
        if path in named:
            continue
        if _SHA_NAME.match(name):
            if sha256_of(fs, path) != name:
                report.errors.append(f"raw store file {path} does not hash to its name")
        else:
            stray += 1
    if stray:
        report.warnings.append(f"{stray} files in the raw store are not named by their sha256 (temporary files of "
                               f"interrupted copies; `socscope gc` removes them)")


def _check_catalogs(wh: Warehouse, manifests: dict[int, Manifest], current: Manifest, report: VerifyReport) -> None:
    root = Path(wh.root)
    snapshots = {int(p.stem): p for p in (root / "catalogs").glob("*.duckdb") if p.stem.isdigit()}
    if current.version and not snapshots and not (root / "catalog.duckdb").exists():
        report.errors.append("no catalog file: readers cannot open the warehouse (the next run rebuilds it)")
        return
    if current.version and snapshots and max(snapshots) != current.version:
        report.errors.append(f"{CATALOG_BEHIND}: the newest snapshot (catalogs/) is version {max(snapshots)}, the "
                             f"manifest is at {current.version}; readers see the old one until the next run rebuilds it")
    checks = [(p, manifests[v]) for v, p in sorted(snapshots.items()) if v in manifests]
    final = root / "catalog.duckdb"
    if final.exists():
        # catalog.duckdb is a hard link to one snapshot (write_catalog); which one says its version
        version = next((v for v, p in snapshots.items() if p.samefile(final)), None)
        if version is None:
            checks.append((final, current))
        elif version != current.version:
            report.errors.append(f"{CATALOG_BEHIND}: catalog.duckdb is version {version}, the manifest is at "
                                 f"{current.version}; readers see the old one until the next run rebuilds it")
    for path, manifest in checks:
        for table, files in catalog_view_files(path).items():
            expected = set(wh.files(table, manifest, relative=True))
            missing = [f for f in files if not (root / f).exists()]
            if missing:
                report.errors.append(f"{path.name}: view {table} reads {len(missing)} missing files, e.g. {missing[0]}")
            if set(files) != expected:
                extra = sorted(set(files) - expected)
                report.errors.append(f"{path.name}: view {table} does not read the files of manifest version "
                                     f"{manifest.version}" + (f" (e.g. it reads {extra[0]})" if extra else ""))
    report.checked["catalogs"] = len(checks)


def catalog_view_files(path: Path) -> dict[str, list[str]]:
    """The data files each table's view in a catalog file reads, as the view names them (relative paths)."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("select view_name, sql from duckdb_views() where not internal").fetchall()
    finally:
        con.close()
    from warehouse.catalog import all_specs

    tables = set(all_specs())
    out = {}
    for name, sql in rows:
        if name in tables:  # a table's view reads its files, or is empty (``table_view_sql``)
            match = _READ_PARQUET.search(sql)
            out[name] = [q.replace("''", "'") for q in _QUOTED.findall(match.group(1))] if match else []
    return out
