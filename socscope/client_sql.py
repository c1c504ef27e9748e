"""The SQL and the conversions behind ``socscope.client.Client`` (kept apart so the client reads as its API).

Names of tables and columns never come from the caller's text into the SQL: a table name is checked
against the catalog and a column name against the table's columns first; values are bound parameters.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from foundation.sql import ident

if TYPE_CHECKING:
    import pandas as pd

    from foundation.campaign import Campaign

LIST_SQL = ("SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name")
#: the catalog's own listings are never cut by a client's small max_rows
CATALOG_ROWS = 1_000_000
COLUMNS_SQL = ("SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ? "
               "ORDER BY ordinal_position")


def locate(target: str | Path, storage_options: Mapping[str, Any] | None) -> tuple[str, "Campaign | None", dict]:
    """(warehouse location, campaign or None, storage options) of what ``socscope.open`` was given."""
    from foundation.config import load_campaign

    text = str(target)
    if "://" in text:
        return text, None, dict(storage_options or {})
    path = Path(text)
    if path.is_dir() and (path / "campaign.yaml").is_file():
        path = path / "campaign.yaml"
    if path.is_file() or path.suffix in (".yaml", ".yml"):  # a missing campaign file: ConfigError says what to do
        campaign = load_campaign(path, parameters=False)  # reads the catalog only, as `socscope query`
        url = campaign.resolve(campaign.storage.warehouse)
        return url, campaign, {**campaign.storage.storage_options, **(storage_options or {})}
    if path.is_dir() and ((path / "catalog.duckdb").exists() or (path / "MANIFEST.json").exists()):
        return str(path.resolve()), None, dict(storage_options or {})
    raise FileNotFoundError(f"{text}: neither a campaign file, a folder with campaign.yaml, nor a warehouse "
                            "folder (with catalog.duckdb); run `socscope demo` for the demo campaign")


def user_connection(url: str, storage_options: Mapping[str, Any]) -> Any:
    """The connection user SQL runs on: the newest catalog snapshot, locked to the warehouse's files;
    an object store has no catalog file, so its views are built in memory over the manifest."""
    if "://" in url:
        from warehouse.store import Warehouse

        return Warehouse(url, dict(storage_options)).connect()
    from warehouse.catalog import open_catalog

    return open_catalog(url)


def convert(table: Any, as_: str, *, units: dict[str, str], truncated: bool) -> Any:
    """An Arrow answer as pandas (units in ``attrs``), Arrow (units in field metadata) or polars; an answer
    cut at the row limit says so (``attrs``/metadata) and warns, so that a cut is never silent."""
    if truncated:
        import warnings

        warnings.warn(f"the answer was cut at {table.num_rows} rows (the client's max_rows): narrow the query "
                      "or open the warehouse with a larger max_rows", stacklevel=3)
    if as_ == "pandas":
        frame = table.to_pandas()
        frame.attrs["units"] = {c: units[c] for c in frame.columns if c in units}
        frame.attrs["truncated"] = truncated
        return frame
    if as_ == "arrow":
        fields = [f.with_metadata({b"unit": units[f.name].encode()}) if f.name in units else f for f in table.schema]
        import pyarrow as pa

        meta = {b"socscope.truncated": str(truncated).lower().encode()}
        return table.cast(pa.schema(fields, metadata=meta))
    if as_ == "polars":
        import polars as pl

        return pl.from_arrow(table)
    raise ValueError(f"as_={as_!r}: choose 'pandas', 'arrow' or 'polars'")


def contract_units(name: str) -> dict[str, str]:
    """column -> unit of a table's contract; {} for a view, which has no contract of its own."""
    from warehouse.catalog import all_specs

    spec = all_specs().get(name)
    return spec.units() if spec else {}


def table_listing(found: "pd.DataFrame", aliases: Mapping[str, str]) -> "pd.DataFrame":
    import pandas as pd

    from warehouse.catalog import all_specs

    specs = all_specs()
    names = set(found["table_name"])
    alias_of: dict[str, list[str]] = {}
    for alias, real in aliases.items():
        alias_of.setdefault(real, []).append(alias)
    rows = [{"name": n, "kind": "table" if n in specs else "view",
             "grain": specs[n].grain if n in specs else "", "aliases": ", ".join(alias_of.get(n, [])),
             "has_current": f"current_{n}" in names}
            for n in sorted(names) if not n.startswith("current_")]
    return pd.DataFrame(rows, columns=["name", "kind", "grain", "aliases", "has_current"])


def filters(cols: Sequence[str], *, table: str, sample: Any, soc: Any, technique: str | None,
            mode: str | None) -> tuple[list[str], list[Any]]:
    """WHERE terms and their bound values; a filter on a column the table lacks is refused, naming it."""
    where: list[str] = []
    params: list[Any] = []

    def need(col: str, why: str) -> None:
        if col not in cols:
            raise ValueError(f"{table!r} has no {col} column, so it cannot be narrowed by {why}")

    if sample is not None:
        need("sample_id", "sample")
        where.append("list_contains(?::VARCHAR[], sample_id)")
        params.append([sample] if isinstance(sample, str) else list(sample))
    if soc is not None:
        need("sample_id", "SOC")
        if isinstance(soc, (tuple, list)):
            where.append("sample_id IN (SELECT sample_id FROM samples WHERE soc_pct BETWEEN ? AND ?)")
            params += [float(soc[0]), float(soc[1])]
        else:
            where.append("sample_id IN (SELECT sample_id FROM samples WHERE soc_nominal_pct = ?)")
            params.append(float(soc))
    for col, value in (("technique", technique), ("mode", mode)):
        if value is not None:
            need(col, col)
            where.append(f"{ident(col)} = ?")
            params.append(value)
    return where, params


def select_list(cols: Sequence[str], wanted: Sequence[str] | None, table: str) -> str:
    if wanted is None:
        return "*"
    unknown = [c for c in wanted if c not in cols]
    if unknown:
        raise ValueError(f"{table!r} has no column {unknown}; its columns: {list(cols)}")
    return ", ".join(ident(c) for c in wanted)


_ROW_LINEAGE = """
SELECT DISTINCT t.measurement_id, t.sample_id, t.technique, t.mode, t.raw_sha256, r.original_name, r.store_path,
       r.first_seen, t.reader, t.params_id, ps.values_json AS params_json, t.flow_run_id, t.processed_at,
       (SELECT string_agg(s.share || ':' || s.path, ', ') FROM sightings s WHERE s.raw_sha256 = t.raw_sha256) AS seen_at
FROM {table} t LEFT JOIN raw_files r ON r.raw_sha256 = t.raw_sha256
LEFT JOIN param_sets ps ON ps.params_id = t.params_id
WHERE t.measurement_id = ?
ORDER BY t.params_id"""


def lineage_sql(table: str, key: str, cols: Sequence[str]) -> tuple[str, Any]:
    """SQL and parameters of a row's lineage: the query library's for a SOC-profile row, else by
    measurement_id through the lineage columns every measurement row carries."""
    if table == "soc_profile":
        from warehouse.queries import bind

        return bind("lineage_of_profile_row", {"profile_key": key})
    if not {"measurement_id", "raw_sha256", "params_id"} <= set(cols):
        raise ValueError(f"{table!r} rows carry no lineage columns (measurement_id, raw_sha256, params_id): "
                         "ask lineage of a measurement table or of soc_profile")
    return _ROW_LINEAGE.format(table=ident(table)), [key]


class _NoCampaign:
    """A warehouse opened without its campaign config: no sample is known, nothing is expected."""

    samples: tuple = ()
    expected: dict = {}

    @staticmethod
    def sample(sample_id: str | None) -> None:
        return None


NO_CAMPAIGN = _NoCampaign()


def manifest_version(client: Any) -> int | None:
    from warehouse.store import Warehouse

    try:
        return Warehouse(client.warehouse, client._storage_options).manifest().version
    except Exception:  # noqa: BLE001 - status still answers when the manifest cannot be read
        return None
