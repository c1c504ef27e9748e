"""The warehouse: immutable Parquet data files, one manifest replaced atomically, DuckDB views.

Layout under the warehouse root (a local path or any fsspec URL):

    data/<table>/technique=<t>/sample_id=<s>/<unit-hash>-<uuid>.parquet   immutable, uniquely named
    manifests/<version>.json                                              every committed manifest
    MANIFEST.json                                                         the current one, replaced last
    catalog.duckdb                                                        views over MANIFEST.json (local only)

A write is a ``Transaction``: data files are written first (readers never see them), then the
manifest is replaced in one step (``os.replace`` locally, one object put on S3). A crash before
that leaves the warehouse as it was; the orphaned files are ignored and later collected.

Rows are grouped in *units* (one raw file × parameter set, or one technique's finalize output):
committing a unit replaces every file of that unit in every table, which makes re-runs idempotent.
Small catalog tables (raw_files, sightings, ingest_events...) are *upserted* by key instead.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from foundation.secrecy import redact_arrow
from schemas.core import TableSpec, conform, schema_digest
from warehouse.faults import STORAGE_ERRNOS, RunInProgress, StorageError, fault_point, storage_error
from warehouse.manifest import FileEntry, Manifest
from warehouse.written_once import WrittenOnce

MANIFEST = "MANIFEST.json"
CATALOG = "catalog.duckdb"


def _safe(value: Any) -> str:
    text = "__null__" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in text)


#: bound values of a query: a sequence for ``?``/``$1``, a mapping for ``$name``
Params = Sequence[Any] | Mapping[str, Any] | None

#: answers ``Warehouse.lookup`` keeps per manifest version (lookups are few distinct questions)
MAX_LOOKUPS = 256


#: DuckDB's own working memory (hash tables, sorts, windows) per query connection of the platform: beyond
#: it DuckDB spills to a temporary folder instead of growing toward its default, 80 % of the machine's RAM
#: (a window over every co-registered pixel of a campaign) — a process of the platform stays <= 1 GiB
DUCKDB_MEMORY_LIMIT = "512MB"


def duckdb_config() -> dict[str, str]:
    """Settings of the platform's DuckDB connections: the memory limit and where a query spills (the
    system's temporary folder, not a ``.tmp`` in whatever folder the process runs in)."""
    import tempfile

    return {"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": str(Path(tempfile.gettempdir()) / "socscope-duckdb")}


#: the key fields at the head of a manifest file as ``Manifest.to_json`` writes it
_MANIFEST_HEAD = re.compile(rb'\A\{\s*"version":\s*(\d+),\s*"created_at":\s*"([^"\\]*)"')


def _key_in_head(text: bytes) -> tuple[int, str] | None:
    """A manifest's key read from its head, without parsing the rest; None if not written by ``to_json``."""
    head = _MANIFEST_HEAD.match(text)
    return None if head is None else (int(head.group(1)), head.group(2).decode())


def _manifest_key(manifest: Manifest) -> tuple[int, str]:
    # (version, commit time): a warehouse deleted and built again at the same URL restarts its
    # versions, and its files are not the ones the old views point to
    return manifest.version, manifest.created_at


class Warehouse:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        self._query_lock = threading.Lock()
        self._query_con = None
        self._query_version: tuple[int, str] | None = None
        self._query_attached = False
        #: (manifest, catalog.specs_key()) the in-memory views of the query connection were made for
        self._query_bound: tuple[Manifest, tuple] | None = None
        self._lookups: dict[tuple[str, str], pd.DataFrame] = {}
        self._lookup_key: tuple[int, str] | None = None
        #: extra guard around commits; flows set a Prefect global concurrency limit here
        self.commit_guard = contextlib.nullcontext
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
        #: how DuckDB reads the store: each data file's details asked once (warehouse/written_once.py)
        self.read_fs = None if self.is_local else WrittenOnce(self.fs, under=self._abs("data"))

    # ---------------------------------------------------------------- paths
    def _abs(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def file_url(self, rel: str) -> str:
        """Where DuckDB reads a data file: a plain path locally, a protocol URL otherwise."""
        if self.is_local:
            return self._abs(rel)
        proto = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        return f"{proto}://{self._abs(rel)}"

    # ---------------------------------------------------------------- manifest
    def manifest(self) -> Manifest:
        text = self._manifest_bytes()
        return Manifest() if text is None else Manifest.from_json(text.decode())

    def _manifest_bytes(self) -> bytes | None:
        # One GET, no exists()/info() first: s3fs answers those from its listing cache, which can
        # hold a manifest another machine has replaced since. ``start=0``: a ranged read from the
        # start, which s3fs sends without the HEAD it asks first for a whole file (its size, for
        # reading big files in parallel) — every query and per-file lookup reads the manifest.
        try:
            return self.fs.cat_file(self._abs(MANIFEST), start=0)
        except FileNotFoundError:
            return None

    def _current(self) -> tuple[tuple[int, str], Callable[[], Manifest]]:
        """The current manifest's key, and the manifest itself on demand. The key comes from the
        head of the file: a query on an unchanged version does not parse a manifest that grows with
        every file of the campaign (~2.5 µs per file entry: 50 ms per query at 20,000 files)."""
        text = self._manifest_bytes()
        if text is None:
            empty = Manifest()
            return _manifest_key(empty), lambda: empty
        key = _key_in_head(text)
        if key is None:  # not written by ``to_json`` (hand-edited): parse it whole
            whole = Manifest.from_json(text.decode())
            return _manifest_key(whole), lambda: whole
        return key, lambda: Manifest.from_json(text.decode())

    def _version(self, key: tuple[int, str]) -> tuple[tuple[int, str], Callable[[], Manifest]]:
        """``_current``'s answer for the committed version ``key``: nothing read while the query
        connection shows it, else its own manifest file (written once, at its commit)."""
        with self._query_lock:
            showing = self._query_version == key and self._query_con is not None
        try:
            text = None if showing else self.fs.cat_file(self._version_path(key[0]), start=0)
        except FileNotFoundError:
            return self._current()
        if text is None:
            return key, lambda: self._manifest_of(key)
        if _key_in_head(text) != key:
            return self._current()  # not the version the work was handed out under
        return key, lambda: Manifest.from_json(text.decode())

    def _current_or(self, at: tuple[int, str] | None) -> tuple[tuple[int, str], Callable[[], Manifest]]:
        return self._current() if at is None else self._version(tuple(at))

    def _manifest_of(self, key: tuple[int, str]) -> Manifest:
        manifest = Manifest.from_json(self.fs.cat_file(self._version_path(key[0]), start=0).decode())
        if _manifest_key(manifest) != key:
            raise StorageError(f"manifest version {key[0]} of {self.url} was replaced while it was read; run again")
        return manifest

    def _version_path(self, version: int) -> str:
        """Where a committed version's own manifest file is (written once, at its commit)."""
        return self._abs(f"manifests/{version:08d}.json")

    def _replace_manifest(self, manifest: Manifest) -> None:
        text = manifest.to_json().encode()
        with self.writing(f"manifest version {manifest.version}"):
            self.fs.makedirs(self._abs("manifests"), exist_ok=True)
            self.fs.pipe(self._version_path(manifest.version), text)
            fault_point("commit.version_file_written")
            if not self.is_local:  # an object store has no rename, but a single put is atomic
                self.fs.pipe(self._abs(MANIFEST), text)
                return
            tmp = Path(self._abs(f".{MANIFEST}.{uuid.uuid4().hex}.tmp"))
            try:
                tmp.write_bytes(text)
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                fault_point("commit.manifest_tmp_written")
                os.replace(tmp, self._abs(MANIFEST))
            finally:
                tmp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def writing(self, what: str, state: str | None = None, errnos=STORAGE_ERRNOS) -> Iterator[None]:
        """Turn a write the storage refuses (full, read-only, over quota) into a ``StorageError`` that
        says what was being written and in which state the warehouse is left. ``errnos``: the errors
        that mean that (a block that also reads shares passes ``DISK_ERRNOS``)."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in errnos:
                raise
            raise storage_error(exc, what, state or self.unchanged()) from exc

    def unchanged(self) -> str:
        try:
            return f"the warehouse is unchanged at version {self.manifest().version}"
        except Exception:  # the manifest cannot be read either: say no more than we know
            return "the current manifest was not replaced"

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One committer at a time on a local disk (flows add a Prefect concurrency limit on top)."""
        if not self.is_local:
            yield
            return
        import fcntl

        with open(self._abs(".writer.lock"), "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """One campaign run at a time on a local warehouse: a second one raises ``RunInProgress`` at once
        (a watcher's next run takes whatever this one leaves). The lock dies with its process."""
        if not self.is_local:
            yield
            return
        import fcntl

        with open(self._abs(".run.lock"), "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise RunInProgress(f"another socscope run is writing to {self.root} ({holder}); this one "
                                    f"stops without changing anything — that run, or the next, takes the new files") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}, started {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def transaction(self, flow_run_id: str | None = None) -> "Transaction":
        return Transaction(self, flow_run_id)

    # ---------------------------------------------------------------- reading
    def files(self, table: str, manifest: Manifest | None = None, relative: bool = False) -> list[str]:
        """The table's data files with rows: where DuckDB reads them, or (``relative``) as the
        manifest names them, relative to the warehouse root (the catalog's views use these, so that
        a copied or moved warehouse reads its own files)."""
        manifest = manifest or self.manifest()
        entries = [e for e in manifest.tables.get(table, []) if e.rows > 0]
        if self.read_fs is not None:  # DuckDB will ask what each file is: the manifest says
            self.read_fs.remember(((self._abs(e.path), e.size) for e in entries if e.size))
        return [e.path if relative else self.file_url(e.path) for e in entries]

    def connect(self, manifest: Manifest | None = None):
        """A fresh in-memory DuckDB connection with a view per table of the given (or current) manifest."""
        import duckdb

        from warehouse.catalog import attach_views

        con = duckdb.connect(":memory:", config=duckdb_config())
        if not self.is_local:
            con.register_filesystem(self.read_fs)
        attach_views(con, self, manifest or self.manifest())
        return con

    def query(self, sql: str, params: Params = None, at: tuple[int, str] | None = None) -> pd.DataFrame:
        """Read-only SQL on the current manifest; the views are built once per manifest version.
        Values go in ``params`` (``?`` / ``$1`` with a sequence, ``$name`` with a mapping), never into
        the SQL text (tests/hardening/test_sql_assembly.py). ``at``: a manifest key (``manifest_key``)
        to read instead, as ``lookup`` reads it: the questions of one step see one version, and ask the
        store nothing while this process shows it."""
        return self._execute(sql, params, *self._current_or(at))

    def rows(self, sql: str, params: Params = None) -> list[Any]:
        """``query``'s answer as named tuples (``row.column``; NULL is None), built without pandas: the
        questions of a no-op re-run, which must not import it (tasks/nothing_new.py)."""
        return self._execute(sql, params, *self._current(), fetch=_named_rows)

    def manifest_key(self) -> tuple[int, str]:
        """The current manifest's key (version, commit time), as ``lookup(at=...)`` takes it."""
        return self._current()[0]

    def lookup(self, sql: str, params: Params = None, at: tuple[int, str] | None = None) -> pd.DataFrame:
        """``query`` for the lookups of per-file work (calibration rows, reference spectra, earlier
        cycles), answered once per manifest version: the files of a version never change, and the
        files of one commit chunk all ask the same question (NEXAFS joins every committed point for
        its end members). Each caller gets its own copy. Not for SQL whose answer changes without a
        commit (``now()``, ``random()``).

        ``at``: the manifest key current when the file's work was handed out (``WorkItem.manifest_key``):
        the lookup reads that version, which holds everything the file's technique waits for, and asks
        the store nothing once this process shows it (without it: a GET of the manifest per file, 519 on
        the full demo). A key the store no longer has (a warehouse built again) reads the current one."""
        key, manifest = self._current_or(at)
        question = (sql, json.dumps(params, sort_keys=True, default=str))
        with self._query_lock:
            if self._lookup_key != key:
                self._lookups, self._lookup_key = {}, key
            answer = self._lookups.get(question)
        if answer is None:
            answer = self._execute(sql, params, key, manifest)
            with self._query_lock:
                if self._lookup_key == key and len(self._lookups) < MAX_LOOKUPS:
                    self._lookups[question] = answer
        return answer.copy()

    def _execute(self, sql: str, params: Params, key: tuple[int, str],
                 manifest: Callable[[], Manifest], fetch: Callable[[Any], Any] = lambda cursor: cursor.df()) -> Any:
        with self._query_lock:
            if self._query_con is None or self._query_version != key:
                self._views_of(key, manifest)
            cursor = self._query_con.cursor()
        try:
            if self._query_attached:
                from warehouse.catalog import USE_SNAPSHOT

                cursor.execute(USE_SNAPSHOT)
            return fetch(cursor.execute(sql) if params is None else cursor.execute(sql, params))
        finally:
            cursor.close()

    def _views_of(self, key: tuple[int, str], manifest: Callable[[], Manifest]) -> None:
        """Make the query connection show version ``key`` (under the query lock): the views of the
        tables that changed are made again on the connection of the last version when it was built
        in memory with today's tables (catalog.rebind_views), else a connection is opened anew."""
        from warehouse.catalog import rebind_views, specs_key

        con, bound = self._query_con, self._query_bound
        if con is not None and not self._query_attached and bound is not None and bound[1] == specs_key():
            now = manifest()
            rebind_views(con, self, bound[0], now)
            self._query_bound, self._query_version = (now, bound[1]), key
            return
        if con is not None:
            con.close()
        self._query_con, self._query_attached = self._views_connection(key[0], manifest)
        self._query_version = key

    def _views_connection(self, version: int, manifest: Callable[[], Manifest]) -> tuple[Any, bool]:
        """(connection, attached?): the views of a version from its catalog snapshot when that is current
        (built already by the commit: ~0.1 s, where building every view takes 0.3-2 s on the demo),
        else built in memory (object stores, a catalog that lags behind, views that changed)."""
        from warehouse.catalog import attach_snapshot, current_snapshot

        snapshot = current_snapshot(self, version) if self.is_local and version else None
        if snapshot is None:
            from warehouse.catalog import specs_key

            now, specs = manifest(), specs_key()
            con = self.connect(now)
            self._query_bound = (now, specs)  # the views ``rebind_views`` moves to the next version
            return con, False
        self._query_bound = None
        import duckdb

        con = duckdb.connect(":memory:")
        attach_snapshot(con, snapshot, self.root)
        return con, True

    def forget_views(self) -> None:
        """The next query opens the views again (the catalog of this version was rebuilt)."""
        with self._query_lock:
            self._query_version = self._query_bound = None

    # ---------------------------------------------------------------- writing helpers
    def write_parquet(self, table: pa.Table, rel: str) -> tuple[str, int]:
        """Write a new data file; returns the sha256 of its bytes and their number (recorded in the manifest)."""
        # Dictionary-encode text only: keys, lineage and labels repeat; measured floats rarely do,
        # and trying to encode them costs more than it saves.
        table = redact_arrow(table)  # a secret that reached a text column is masked, not published
        text = [f.name for f in table.schema if pa.types.is_string(f.type)]
        buf = pa.BufferOutputStream()  # in memory first: the bytes written are the bytes hashed
        pq.write_table(table, buf, compression="zstd", use_dictionary=text)
        data = buf.getvalue()
        with self.writing(rel):
            fault_point("store.write." + rel.split("/")[1])  # per table: tests fail one table's writes
            if not self.is_local:
                self.fs.pipe(self._abs(rel), data.to_pybytes())
                return hashlib.sha256(data).hexdigest(), data.size
            Path(self._abs(rel)).parent.mkdir(parents=True, exist_ok=True)
            tmp = self._abs(rel) + ".tmp"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                fault_point("store.parquet_tmp_written")
                os.replace(tmp, self._abs(rel))
            finally:
                Path(tmp).unlink(missing_ok=True)
        fault_point("store.parquet_written")
        return hashlib.sha256(data).hexdigest(), data.size


def _named_rows(cursor: Any) -> list[Any]:
    """The rows of an executed DuckDB cursor as named tuples of its columns."""
    row = collections.namedtuple("Row", [d[0] for d in cursor.description], rename=True)
    return [row._make(values) for values in cursor.fetchall()]


def write_unit(wh: Warehouse, spec: TableSpec, df: pd.DataFrame, unit: str) -> list[FileEntry]:
    """Validate the rows of one unit and write them as new immutable files, one per partition."""
    if df.empty:
        return []
    table = conform(spec, df)
    entries: list[FileEntry] = []
    unit_hash = hashlib.sha256(unit.encode()).hexdigest()[:12]
    parts = [c for c in spec.partition_by if c in spec.column_names]
    distinct = [table.column(c).unique() for c in parts]
    if all(len(d) == 1 for d in distinct):  # the usual case, one file's rows: no groupby (1.6 ms)
        groups = {tuple(d[0].as_py() for d in distinct): range(len(df))}
    else:
        keys = df[parts].astype(object).where(df[parts].notna(), None)
        groups = keys.groupby(parts, dropna=False, sort=True).indices
    for key, idx in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        sub = table.take(pa.array(list(idx))) if len(groups) > 1 else table
        folder = "/".join(f"{c}={_safe(v)}" for c, v in zip(parts, key))
        rel = f"data/{spec.name}/{folder + '/' if folder else ''}{unit_hash}-{uuid.uuid4().hex[:12]}.parquet"
        sha, size = wh.write_parquet(sub, rel)
        entries.append(FileEntry(rel, unit, sub.num_rows, schema_digest(spec), sha, size))
    return entries


def unit_key(*parts: Any) -> str:
    return ":".join(str(p) for p in parts)


class Transaction:
    """Collects data files of replaced units and upserts; ``commit`` publishes them in one step."""

    def __init__(self, wh: Warehouse, flow_run_id: str | None):
        self.wh = wh
        self.flow_run_id = flow_run_id
        self._lock = threading.Lock()
        self._new: dict[str, list[FileEntry]] = {}
        self._replaced_units: set[str] = set()
        self._upserts: dict[str, tuple[TableSpec, list[pd.DataFrame], str]] = {}
        self.committed: Manifest | None = None

    def replace_unit(self, unit: str) -> None:
        """Drop every file of ``unit`` in every table at commit (even when no new rows come)."""
        with self._lock:
            self._replaced_units.add(unit)

    def put(self, spec: TableSpec, df: pd.DataFrame, unit: str) -> list[FileEntry]:
        """Validate and write the rows of one unit now; they become visible at commit."""
        entries = write_unit(self.wh, spec, df, unit)
        self.adopt(unit, {spec.name: entries})
        return entries

    def adopt(self, unit: str, entries: dict[str, list[FileEntry]]) -> None:
        """Take files written elsewhere (another thread, process or Dask worker) into this commit."""
        with self._lock:
            self._replaced_units.add(unit)
            for table, es in entries.items():
                self._new.setdefault(table, []).extend(es)

    def upsert(self, spec: TableSpec, df: pd.DataFrame, keep: str = "existing") -> None:
        """Merge rows into a small table by its key; ``keep='existing'`` makes re-runs change nothing."""
        if not spec.key:
            raise ValueError(f"table {spec.name} has no key to upsert on")
        with self._lock:
            prev = self._upserts.get(spec.name)
            frames = (prev[1] if prev else []) + [df]
            self._upserts[spec.name] = (spec, frames, keep)

    def commit(self) -> Manifest:
        """Publish the transaction as the next manifest version (or leave the warehouse as it is when
        nothing changes). The write lock (and the flows' concurrency slot) is held only around the
        manifest swap: the upserted tables are merged and written before it, on the manifest read
        then, and merged again under the lock only if another commit changed one of them meanwhile."""
        base = self.wh.manifest()
        upserted = self._upserted(base)
        # this process's commits one at a time, catalog included (techniques commit side by side,
        # tasks/side_by_side.py): an object store has no lock of its own, and a catalog written after
        # a newer one would show an older version
        with _commits_of(self.wh.url):
            with self.wh.commit_guard(), self.wh.writer_lock():
                fault_point("commit.locked")
                current = self.wh.manifest()
                now, then = _paths(current.tables), _paths(base.tables)
                if any(now.get(t) != then.get(t) for t in upserted):  # another commit's rows first
                    upserted = self._upserted(current)
                tables = {t: [e for e in es if e.unit not in self._replaced_units] for t, es in current.tables.items()}
                for t, es in self._new.items():
                    tables.setdefault(t, []).extend(es)
                tables.update(upserted)
                if _paths(tables) == _paths(current.tables) and current.version > 0:
                    return self._unchanged(current)
                manifest = Manifest(version=current.version + 1, tables=tables,
                                    created_at=datetime.now(timezone.utc).isoformat(), flow_run_id=self.flow_run_id)
                self.wh._replace_manifest(manifest)
            fault_point("commit.manifest_replaced")
            self.committed = manifest
            from warehouse.catalog import write_catalog

            with self.wh.writing("the catalog (catalog.duckdb)",
                                 f"the data is committed at version {manifest.version} but the catalog still shows "
                                 f"an earlier one (the next run rebuilds it)"):
                write_catalog(self.wh, manifest)
        return manifest

    def _upserted(self, manifest: Manifest) -> dict[str, list[FileEntry]]:
        """The files of each upserted table once this transaction's rows are merged into ``manifest``'s."""
        return {name: self._merge_upsert(manifest, spec, frames, keep)
                for name, (spec, frames, keep) in self._upserts.items()}

    def _unchanged(self, current: Manifest) -> Manifest:
        """A commit that would change no file: no new manifest version and no catalog rewrite (a re-run
        with nothing new leaves the warehouse as it was), unless the catalog lags behind the manifest."""
        from warehouse.catalog import catalog_is_current, write_catalog

        self.committed = current
        if not catalog_is_current(self.wh, current):
            write_catalog(self.wh, current)
            self.wh.forget_views()  # queries read the views of the rebuilt snapshot
        return current

    def _merge_upsert(self, current: Manifest, spec: TableSpec, frames: list[pd.DataFrame], keep: str) -> list[FileEntry]:
        key = list(spec.key)
        new = pd.concat(frames, ignore_index=True)
        existing_files = [e for e in current.tables.get(spec.name, []) if e.rows > 0]
        if existing_files:
            old = pd.concat([pq.read_table(self.wh._abs(e.path) if self.wh.is_local else self.wh.fs.open(self.wh._abs(e.path), "rb")).to_pandas()
                             for e in existing_files], ignore_index=True)
            merged = pd.concat([old, new] if keep == "existing" else [new, old], ignore_index=True)
        else:
            merged = new
        merged = merged.drop_duplicates(subset=key, keep="first").sort_values(key, kind="stable").reset_index(drop=True)
        if existing_files:
            before = old.drop_duplicates(subset=key, keep="first").sort_values(key, kind="stable").reset_index(drop=True)
            if len(before) == len(old) and _same(before, merged):
                return existing_files  # nothing changed: keep the same files, so a re-run rewrites nothing
        rel = f"data/{spec.name}/{spec.name}-{uuid.uuid4().hex[:12]}.parquet"
        sha, size = self.wh.write_parquet(conform(spec, merged), rel)
        return [FileEntry(rel, f"upsert:{spec.name}", len(merged), schema_digest(spec), sha, size)]


_COMMITS: dict[str, threading.RLock] = {}
_COMMITS_LOCK = threading.Lock()


def _commits_of(url: str) -> threading.RLock:
    """The lock that keeps this process's commits to the warehouse at ``url`` one at a time (re-entrant:
    a commit guard may commit, as tests do to play another machine's commit)."""
    with _COMMITS_LOCK:
        return _COMMITS.setdefault(url, threading.RLock())


def _paths(tables: dict[str, list[FileEntry]]) -> dict[str, list[str]]:
    """The data files of each table (empty tables left out): equal when a commit would change nothing."""
    return {t: sorted(e.path for e in es) for t, es in tables.items() if es}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    # nulls as None in object columns: a column of nulls reads back from Parquet as NaN strings, not None
    a, b = (f.reset_index(drop=True).astype(object).where(f.notna(), None) for f in (a, b))
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
        return True
    except AssertionError:
        return False


def live_files(wh: Warehouse, keep_manifests: int = 20) -> set[str]:
    """Data files referenced by any of the last manifests (never collect what a reader may still use)."""
    paths: set[str] = set()
    listing = sorted(wh.fs.glob(wh._abs("manifests/*.json")))[-keep_manifests:]
    for p in listing:
        with wh.fs.open(p, "r") as fh:
            m = Manifest.from_json(fh.read())
        for es in m.tables.values():
            paths.update(e.path for e in es)
    return paths


def collect_garbage(wh: Warehouse, min_age_s: float = 3600.0, keep_manifests: int = 20) -> list[str]:
    """Delete orphaned data files (from crashed runs or superseded units) older than ``min_age_s``,
    and the temporary manifest and catalog files of commits that were killed half-way."""
    keep = live_files(wh, keep_manifests)
    candidates = [p for p in wh.fs.find(wh._abs("data")) if p[len(wh.root) + 1:] not in keep]
    candidates += wh.fs.glob(wh._abs(f".{MANIFEST}.*.tmp")) + wh.fs.glob(wh._abs(".catalog-*"))
    # catalog snapshots of versions older than the kept ones read files collected here
    kept = sorted(wh.fs.glob(wh._abs("manifests/*.json")))[-keep_manifests:]
    oldest = kept[0].rsplit("/", 1)[-1].split(".")[0] if kept else ""
    candidates += [p for p in wh.fs.glob(wh._abs("catalogs/*.duckdb")) + wh.fs.glob(wh._abs("catalogs/*.views"))
                   if p.rsplit("/", 1)[-1].split(".")[0] < oldest]
    candidates += wh.fs.glob(wh._abs("catalogs/.*.tmp"))  # a views digest whose write was killed
    return [p[len(wh.root) + 1:] for p in _remove_old(wh.fs, candidates, min_age_s)]


def remove_temp_files(url: str, storage_options: dict[str, Any] | None = None, min_age_s: float = 3600.0) -> list[str]:
    """Delete ``*.tmp`` files under ``url`` older than ``min_age_s`` (copies into the raw store that a
    killed run left unfinished; a finished copy is renamed to its sha256)."""
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if not fs.exists(root):
        return []
    return _remove_old(fs, [p for p in fs.find(root) if p.endswith(".tmp")], min_age_s)


def _remove_old(fs, paths: list[str], min_age_s: float) -> list[str]:
    removed, now = [], time.time()
    for p in paths:
        if now - fs.modified(p).timestamp() >= min_age_s:
            fs.rm(p)
            removed.append(p)
    return removed


