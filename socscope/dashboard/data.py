"""Read-only access to the warehouse for the dashboard: plain SQL on the newest catalog snapshot.

Nothing here imports Streamlit, so the queries are testable on their own. The catalog is the one
:func:`warehouse.catalog.open_catalog` opens (read-only, newest versioned snapshot). A connection
is kept per snapshot (opening costs 40–120 ms, a cursor ~1 ms); when a flow commits, the next query
sees the new snapshot file and opens it. Old connections are closed once several newer ones exist,
so a reader never holds a writer up (writers never touch a published snapshot anyway).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

KEEP_OPEN = 3


@dataclass(frozen=True)
class Snapshot:
    path: str
    version: int  # -1 for the unversioned catalog.duckdb

    @property
    def label(self) -> str:
        return f"v{self.version}" if self.version >= 0 else "catalog.duckdb"


def newest_snapshot(root: str | Path) -> Snapshot:
    root = Path(root)
    snapshots = sorted((root / "catalogs").glob("*.duckdb"))
    if snapshots:
        p = snapshots[-1]
        try:
            version = int(p.stem)
        except ValueError:
            version = -1
        return Snapshot(str(p), version)
    p = root / "catalog.duckdb"
    if not p.exists():
        raise FileNotFoundError(f"no warehouse catalog at {p}; run `socscope run` or `socscope demo` first")
    return Snapshot(str(p), -1)


class Catalog:
    """Connections on the snapshots of one warehouse; thread-safe (one cursor per query)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._cons: dict[str, Any] = {}

    def snapshot(self) -> Snapshot:
        return newest_snapshot(self.root)

    def _connection(self, snap: Snapshot):
        import duckdb

        from warehouse.user_sql import lock_down

        with self._lock:
            con = self._cons.get(snap.path)
            if con is None:
                con = lock_down(duckdb.connect(snap.path, read_only=True), self.root)
                self._cons[snap.path] = con
                for old in sorted(self._cons)[:-KEEP_OPEN]:
                    try:
                        self._cons.pop(old).close()
                    except Exception:  # noqa: BLE001 - closing a stale snapshot must not fail a page
                        pass
            return con

    def query(self, sql: str, params: Sequence[Any] | None = None, snap: Snapshot | None = None) -> pd.DataFrame:
        """Run ``sql`` (``?`` placeholders) on ``snap`` (default: the newest snapshot)."""
        for attempt in range(3):
            snap_now = snap or self.snapshot()
            try:
                cur = self._connection(snap_now).cursor()
                try:
                    return cur.execute(sql, list(params or [])).df()
                finally:
                    cur.close()
            except Exception as exc:  # noqa: BLE001
                # a snapshot deleted under us (KEEP_CATALOGS rotation) or closed by another thread:
                # take the newest one again
                gone = "No such file" in str(exc) or "closed" in str(exc).lower() or "does not exist" in str(exc)
                if attempt == 2 or not gone or "Catalog Error" in str(exc):
                    raise
                with self._lock:
                    self._cons.pop(snap_now.path, None)
                snap = None
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            for con in self._cons.values():
                try:
                    con.close()
                except Exception:  # noqa: BLE001
                    pass
            self._cons.clear()


# ------------------------------------------------------------------------- one per server process
_OPEN: dict[tuple, Any] = {}
_OPEN_LOCK = threading.Lock()


def catalog_for(root: str | Path) -> Catalog:
    """The one :class:`Catalog` of ``root`` in this process: the server's warm-up (serve.py) opens it
    before the server is up, and every session's page runs use that same one."""
    key = ("catalog", str(root))
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = Catalog(root)
        return _OPEN[key]


def campaign_for(config: str | Path) -> Any:
    """The campaign of ``config`` loaded once per process and file version (a changed file is read again)."""
    path = Path(config).resolve()
    key = ("campaign", str(path), path.stat().st_mtime_ns)
    with _OPEN_LOCK:
        found = _OPEN.get(key)
    if found is None:
        from foundation.config import load_campaign

        found = load_campaign(path)
        with _OPEN_LOCK:
            for old in [k for k in _OPEN if k[:2] == key[:2]]:
                _OPEN.pop(old)
            _OPEN[key] = found
    return found


# ---------------------------------------------------------------------------------------- campaign
#: the campaign page's table is socscope.status (shared with `socscope status`)
from socscope.status import REFERENCES, cell_file_techniques  # noqa: E402


ROWS_SQL = """
    select coalesce(e.sample_id, '(references)') as sample_id, e.technique, sum(e.rows_written) as rows_written,
           count(*) as attempts, sum(case when e.status = 'ok' then 1 else 0 end) as ok_files,
           max(e.attempted_at) as last_attempt
    from ingest_events e where e.stage = 'process'
    group by 1, 2"""

LAST_RUN_SQL = """
    select flow_run_id, min(attempted_at) as started_at, max(attempted_at) as finished_at,
           count(*) as attempts, sum(case when status = 'ok' then 1 else 0 end) as ok,
           sum(case when status <> 'ok' then 1 else 0 end) as not_ok, sum(rows_written) as rows_written
    from ingest_events group by 1 order by finished_at desc limit 5"""


# ------------------------------------------------------------------------------------- SOC profile
PROFILE_FEATURES_SQL = """
    select technique || ':' || coalesce(mode, '') || ':' || feature as key, technique, mode, feature, unit,
           count(*) as n_rows, count(distinct sample_id) as n_samples
    from soc_profile group by all order by technique, mode, feature"""

PROFILE_SQL = """
    select technique || ':' || coalesce(mode, '') || ':' || feature as key, sample_id, series, branch,
           soc_pct, soc_nominal_pct, mean, std, n, ci_low, ci_high, interpolated, unit, observation,
           source_samples, profile_key
    from soc_profile
    where list_contains(?::VARCHAR[], technique || ':' || coalesce(mode, '') || ':' || feature)
    order by key, series, soc_pct"""


# ---------------------------------------------------------------------------------- correlations
def feature_values(cat: Catalog, feature: str, samples: Sequence[str], snap: Snapshot | None = None) -> pd.DataFrame:
    """Per-sample values of a correlation feature (``technique:mode:feature`` or ``soc_pct``) as the
    correlations mart used them: a measured value wins over an interpolated one."""
    if feature == "soc_pct":
        return cat.query("""
            select sample_id, series, branch, soc_pct, soc_pct as value, false as interpolated,
                   null::varchar as profile_key
            from samples where list_contains(?::VARCHAR[], sample_id)""", [list(samples)], snap=snap)
    tech, mode, name = (feature.split(":", 2) + ["", ""])[:3]
    return cat.query("""
        select sample_id, series, branch, soc_pct, mean as value, interpolated, profile_key
        from soc_profile
        where technique = ? and coalesce(mode, '') = ? and feature = ? and list_contains(?::VARCHAR[], sample_id)
        qualify row_number() over (partition by sample_id order by interpolated, soc_pct) = 1""",
        [tech, mode, name, list(samples)], snap=snap)


LINEAGE_SQL = """
    select l.profile_key, l.raw_sha256, l.n_observations, r.original_name, r.technique, r.store_path,
           e.reader, e.params_id, e.code_version, e.flow_run_id, e.attempted_at, ps.values_json
    from soc_profile_lineage l
    left join raw_files r using (raw_sha256)
    left join (select * from ingest_events where stage = 'process' and status = 'ok'
               qualify row_number() over (partition by raw_sha256 order by attempted_at desc) = 1) e
           using (raw_sha256)
    left join param_sets ps on ps.params_id = e.params_id
    where list_contains(?::VARCHAR[], l.profile_key)
    order by r.original_name"""
