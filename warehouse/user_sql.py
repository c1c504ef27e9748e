"""SQL that people type (``socscope query``, the dashboard, the Python API): one read-only SELECT on a
locked connection, with a time limit and a row limit.

The catalog is opened read-only, but that does not stop ``COPY … TO`` a file or a table function
that reads any host file (STACK_NOTES, DuckDB 2.0.1). So a user connection is locked down twice:
the connection may only read files under the warehouse (``allowed_directories`` +
``enable_external_access = false`` + ``lock_configuration = true``, in that order), and each text
is parsed first and refused unless it is exactly one SELECT (SHOW, DESCRIBE and SUMMARIZE are
SELECTs to DuckDB; EXPLAIN is refused because EXPLAIN ANALYZE runs its statement).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

if TYPE_CHECKING:  # pandas and pyarrow are imported where an answer is converted: `socscope query` needs neither
    import pandas as pd

#: interactive defaults; the campaign config or the caller may change them
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_ROWS = 1_000_000


class RefusedQuery(Exception):
    """User SQL that is not allowed, did not parse, failed or ran too long; ``str`` is one line to show."""


@dataclass(frozen=True)
class QueryResult:
    frame: pd.DataFrame
    #: True when the answer had more rows than the limit and was cut
    truncated: bool


#: connections of one process to the same file share one database instance and its global
#: settings, so two threads opening a snapshot at once must not both try to lock it
_LOCKING = threading.Lock()


def lock_down(con: Any, warehouse_root: str | Path) -> Any:
    """Restrict ``con`` to reading files under the warehouse, and freeze its settings."""
    root = Path(warehouse_root).resolve()
    with _LOCKING:
        if con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
            return con  # an earlier open of this snapshot in this process locked it, to the same warehouse
        # views name their files relative to the warehouse: resolve them there, whatever the cwd
        con.execute("SET GLOBAL file_search_path = ?", [str(root)])  # GLOBAL: cursors inherit it
        con.execute("SET allowed_directories = ?", [[f"{root}/", "data/", "./data/"]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def check_user_sql(con: Any, sql: str) -> str:
    """The one SELECT statement of ``sql``, or RefusedQuery saying why not."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise RefusedQuery(f"the SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise RefusedQuery(f"give exactly one statement per query (got {len(statements)}); "
                           "run them one at a time")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise RefusedQuery(f"only SELECT queries are allowed here, this is a {kind.name} statement: the "
                           "warehouse is read-only for users (COPY, ATTACH, SET, INSTALL/LOAD, PRAGMA and "
                           "writes are refused); export results with --format csv|parquet --out FILE")
    return sql


def run_user_sql(con: Any, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one checked SELECT on a locked connection, as pandas (``run_user_sql_arrow`` for Arrow)."""
    table, truncated = run_user_sql_arrow(con, sql, params, timeout_s=timeout_s, max_rows=max_rows)
    return QueryResult(table.to_pandas(), truncated)


def run_user_sql_arrow(con: Any, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None, *,
                       timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS) -> tuple[Any, bool]:
    """One checked SELECT as a ``pyarrow.Table`` of at most ``max_rows`` rows and whether it was cut."""
    import pyarrow as pa

    with _guarded(con, sql, timeout_s) as cursor:
        reader = cursor.sql(sql, params=params or None).to_arrow_reader(min(max_rows + 1, 100_000))
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > max_rows:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, max_rows), table.num_rows > max_rows


def run_user_sql_rows(con: Any, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None, *,
                      timeout_s: float = DEFAULT_TIMEOUT_S,
                      max_rows: int = DEFAULT_MAX_ROWS) -> tuple[list[str], list[tuple], bool]:
    """One checked SELECT as (column names, row tuples, cut?): the answer of `socscope query`, which
    prints rows and so needs neither pandas nor pyarrow (their imports cost more than a small query)."""
    with _guarded(con, sql, timeout_s) as cursor:
        cursor.execute(sql, params or None)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1)
    return columns, rows[:max_rows], len(rows) > max_rows


@contextlib.contextmanager
def _guarded(con: Any, sql: str, timeout_s: float) -> Iterator[Any]:
    """A cursor for one checked SELECT, interrupted after ``timeout_s`` (DuckDB has no statement timeout;
    ``interrupt()`` on the running cursor stops it in about a second); its errors as RefusedQuery."""
    import duckdb

    check_user_sql(con, sql)
    cursor = con.cursor()
    timer = threading.Timer(timeout_s, cursor.interrupt)
    timer.start()
    try:
        yield cursor
    except duckdb.InterruptException:
        raise RefusedQuery(f"the query ran longer than {timeout_s:g} s and was stopped; narrow it "
                           "(WHERE, LIMIT) or raise the time limit") from None
    except duckdb.Error as exc:
        raise RefusedQuery(_first_line(exc)) from None
    finally:
        timer.cancel()
        cursor.close()


def open_snapshot(warehouse_root: str | Path) -> Any:
    """Read-only connection on the newest catalog snapshot of a local warehouse, locked to reading the
    warehouse's own files (``lock_down``); ``warehouse.catalog.open_catalog`` is this."""
    import duckdb

    root = Path(warehouse_root)
    path = root / "catalog.duckdb"
    snapshots = sorted((root / "catalogs").glob("*.duckdb"))
    if snapshots:
        path = snapshots[-1]
    if not path.exists():
        raise FileNotFoundError(f"no warehouse catalog at {path}; run `socscope run` or `socscope demo` first")
    return lock_down(duckdb.connect(str(path), read_only=True), root)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
