"""``socscope.open``: a read-only client on a warehouse, for notebooks and pipelines beside this one.

Every question goes through the house's user SQL guard (``warehouse.user_sql``): one SELECT at a time
on a connection that can read only the warehouse's own files, with a time and a row limit — the same
rules as ``socscope query`` and the dashboard. Table rows come with their units (from the table
contracts in ``schemas/``) in ``DataFrame.attrs["units"]`` or in the Arrow field metadata.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from foundation.sql import ident
from socscope import client_sql as Q

if TYPE_CHECKING:
    import pandas as pd

    from foundation.campaign import Campaign

Output = Literal["pandas", "arrow", "polars"]

#: friendly names for the tables people ask for most; ``Client.table`` accepts either
ALIASES: dict[str, str] = {
    "lattice": "sxpd_patterns",  # a, c, c/a and cell volume per diffraction pattern
    "patterns": "sxpd_patterns",
    "peaks": "sxpd_peaks",
    "spectra": "xas_spectra",
    "xas": "xas_features",
    "maps": "afm_maps",
    "particles": "afm_particles",
    "pixels": "afm_pixels",
    "cycler": "echem_series",
    "cycles": "echem_cycles",
    "gitt": "gitt_pulses",
    "profile": "soc_profile",
}


@dataclass(frozen=True)
class Status:
    """Files per sample x technique with their verdict (``files``: socscope.status.COLUMNS) and the quarantine."""

    files: "pd.DataFrame"
    quarantine: "pd.DataFrame"
    manifest_version: int | None


class Client:
    """Read-only access to one warehouse. Use ``socscope.open(...)``; close it (or use ``with``)."""

    def __init__(self, warehouse: str, campaign: "Campaign | None" = None,
                 storage_options: Mapping[str, Any] | None = None, *, timeout_s: float = 60.0,
                 max_rows: int = 1_000_000):
        self.warehouse = warehouse
        self.campaign = campaign
        self.timeout_s, self.max_rows = timeout_s, max_rows
        self._storage_options = dict(storage_options or {})
        self._con = Q.user_connection(warehouse, self._storage_options)
        self._known: set[str] | None = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    def __repr__(self) -> str:
        return f"<socscope.Client warehouse={self.warehouse!r} campaign={getattr(self.campaign, 'name', None)!r}>"

    # ----------------------------------------------------------------------------------- SQL
    def sql(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None, *, as_: Output = "pandas",
            timeout_s: float | None = None, max_rows: int | None = None) -> Any:
        """Rows of one read-only SELECT (values bound as ``?``/``$name`` parameters, never pasted in).

        Refused (``warehouse.user_sql.RefusedQuery``): anything but one SELECT, a file outside the
        warehouse, a query over the time limit. An answer cut at ``max_rows`` says so in
        ``attrs["truncated"]`` (pandas) or the schema metadata ``socscope.truncated`` (Arrow)."""
        from warehouse.user_sql import run_user_sql_arrow

        table, truncated = run_user_sql_arrow(self._con, sql, params, timeout_s=timeout_s or self.timeout_s,
                                              max_rows=max_rows or self.max_rows)
        return Q.convert(table, as_, units={}, truncated=truncated)

    # -------------------------------------------------------------------------------- tables
    def tables(self) -> "pd.DataFrame":
        """Every table and view: name, kind (table | view), grain, alias, and whether a ``current_``
        view (rows of the active parameter set only) exists."""
        return Q.table_listing(self.sql(Q.LIST_SQL, max_rows=Q.CATALOG_ROWS), ALIASES)

    def units(self, name: str) -> dict[str, str]:
        """column -> unit of a table from its contract ("" for text; views: {} — units in column names)."""
        return Q.contract_units(ALIASES.get(name, name))

    def table(self, name: str, *, sample: str | Sequence[str] | None = None,
              soc: float | tuple[float, float] | None = None, technique: str | None = None,
              mode: str | None = None, current: bool = True, columns: Sequence[str] | None = None,
              as_: Output = "pandas") -> Any:
        """Rows of one table or view (an alias of ``ALIASES`` too), optionally narrowed.

        ``sample``: one id or several; ``soc``: a number (samples whose nominal SOC it is, %) or a
        ``(low, high)`` range of the samples' SOC (measured where known, else nominal, %);
        ``technique``/``mode``: on the table's own columns. ``current`` (default): a measurement table's
        rows of the active parameter set only (its ``current_`` view). Units: ``attrs["units"]``."""
        real = ALIASES.get(name, name)
        cols = self._columns(real)
        source = f"current_{real}" if current and f"current_{real}" in self.names() else real
        where, params = Q.filters(cols, sample=sample, soc=soc, technique=technique, mode=mode, table=real)
        chosen = Q.select_list(cols, columns, real)
        sql = f"SELECT {chosen} FROM {ident(source)}" + (f" WHERE {' AND '.join(where)}" if where else "")
        table, truncated = self._arrow(sql, params)
        return Q.convert(table, as_, units=Q.contract_units(real), truncated=truncated)

    def _arrow(self, sql: str, params: list[Any]) -> tuple[Any, bool]:
        from warehouse.user_sql import run_user_sql_arrow

        return run_user_sql_arrow(self._con, sql, params, timeout_s=self.timeout_s, max_rows=self.max_rows)

    def names(self) -> set[str]:
        """Every table and view name, ``current_`` views too, of the snapshot this client opened (it stays
        on that snapshot, so they are asked once)."""
        if self._known is None:
            self._known = set(self.sql(Q.LIST_SQL, max_rows=Q.CATALOG_ROWS)["table_name"])
        return self._known

    def _columns(self, name: str) -> list[str]:
        if name not in self.names():
            raise KeyError(f"no table or view {name!r} in {self.warehouse}; see Client.tables() (aliases: "
                           f"{', '.join(f'{k}->{v}' for k, v in ALIASES.items())})")
        return list(self.sql(Q.COLUMNS_SQL, [name], max_rows=Q.CATALOG_ROWS)["column_name"])

    # ------------------------------------------------------------------------ lineage, findings
    def lineage(self, table: str, row_key: str) -> "pd.DataFrame":
        """Where a row came from: raw files (name, sha256, where seen on the shares), reader@version,
        parameter set (id and values), flow run. ``row_key``: a ``profile_key`` for ``soc_profile``,
        else the ``measurement_id`` of a measurement table's row."""
        real = ALIASES.get(table, table)
        sql, params = Q.lineage_sql(real, row_key, self._columns(real))
        out = self.sql(sql, params)
        if out.empty:
            raise KeyError(f"no row of {real!r} has key {row_key!r}")
        return out

    def findings(self) -> "pd.DataFrame":
        """The claims of SCIENCE.md as checked by the last marts run: verdict, statistic, evidence."""
        return self.table("findings", current=False)

    def status(self) -> Status:
        """Per sample x technique: expected, received, processed, quarantined, ignored and the verdict
        (socscope.status, the same table as `socscope status` and the dashboard), and the quarantine.
        Opened on a bare warehouse (no config), nothing is expected and every row says "unexpected"."""
        from socscope import status as S

        files = S.status_table(self.campaign or Q.NO_CAMPAIGN, self.sql)
        quarantine = self.sql("SELECT technique, sample_id, original_name, stage, reason, reader, attempted_at "
                              "FROM quarantine ORDER BY technique, original_name")
        return Status(files, quarantine, Q.manifest_version(self))

    # ---------------------------------------------------------------------------------- exports
    def to_bdf(self, measurement_id: str, path: str | Path, format: str | None = None, names: str = "label") -> Path:
        """One cycler record of ``echem_series`` in the Battery Data Format (CSV or Parquet)."""
        from socscope.exports import bdf

        rows = self.sql('SELECT * FROM current_echem_series WHERE measurement_id = ? ORDER BY record_index',
                        [measurement_id])
        if rows.empty:
            raise KeyError(f"echem_series has no rows of measurement {measurement_id!r}")
        return bdf.write_frame(rows, Path(path), format, names)

    def export_package(self, path: str | Path, tables: Sequence[str] | None = None) -> Path:
        """The campaign as a Frictionless data package (``socscope.exports.package``): tables,
        lineage, parameter sets, findings, with sha256 checksums."""
        from socscope.exports import package

        return package.write_package(self, Path(path), tables)


def open(warehouse_or_config: str | Path, *, storage_options: Mapping[str, Any] | None = None,
         timeout_s: float = 60.0, max_rows: int = 1_000_000) -> Client:  # noqa: A001 - socscope.open is the API
    """A read-only ``Client`` on a warehouse, found from a campaign file (``campaign.yaml``), a folder
    holding one (``socscope.open("demo")``), a warehouse folder (with ``catalog.duckdb``), or an
    object-store URL of a warehouse (``s3://…``, with ``storage_options``)."""
    warehouse, campaign, options = Q.locate(warehouse_or_config, storage_options)
    return Client(warehouse, campaign, options, timeout_s=timeout_s, max_rows=max_rows)
