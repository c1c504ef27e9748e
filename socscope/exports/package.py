"""A campaign as a Frictionless data package (https://specs.frictionlessdata.io/data-package/), ready to
deposit with a paper: every table of the contracts as CSV (the measurement tables' rows of the active
parameter sets; lineage, raw files, sightings, parameter sets, ingest events, SOC profile, correlations
and findings whole), each with a Table Schema built from its contract (type, description, unit,
required, primary key) and its sha256 and size in bytes, so that ``frictionless validate`` checks
both the rows against the schema and the bytes against the checksum.

CSV cannot tell an empty text from a missing one: an empty cell is missing, except in the text columns a
contract declares never null, where it is the empty text (field-level ``missingValues: []``).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from schemas.core import TableSpec

#: contract dtype -> Table Schema field type
FIELD_TYPES = {"string": "string", "int64": "integer", "int32": "integer", "float64": "number",
               "float32": "number", "bool": "boolean", "timestamp": "datetime"}
#: rows a table may have before the package refuses it (an export is never cut short silently)
MAX_ROWS = 50_000_000


def write_package(client: Any, out: Path, tables: Sequence[str] | None = None) -> Path:
    """Write ``out/datapackage.json`` and ``out/data/<table>.csv``; ``out`` must be new or empty."""
    from warehouse.catalog import all_specs

    specs = all_specs()
    chosen = list(tables) if tables else sorted(specs)
    unknown = [t for t in chosen if t not in specs]
    if unknown:
        raise KeyError(f"no table {unknown} in the contracts; tables: {sorted(specs)}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: give a new folder for the data package")
    (out / "data").mkdir(parents=True, exist_ok=True)
    present = client.names()
    resources = [_resource(client, specs[name], out, present) for name in chosen]
    descriptor = _package(client, resources)
    (out / "datapackage.json").write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return out / "datapackage.json"


def _resource(client: Any, spec: "TableSpec", out: Path, present: set[str]) -> dict[str, Any]:
    from foundation.sql import ident

    source = f"current_{spec.name}" if spec.measurement and f"current_{spec.name}" in present else spec.name
    table = client.sql(f"SELECT * FROM {ident(source)}", as_="arrow", max_rows=MAX_ROWS)
    if (table.schema.metadata or {}).get(b"socscope.truncated") == b"true":
        raise ValueError(f"{spec.name} has more than {MAX_ROWS} rows: export it in parts (socscope query --format parquet)")
    path = out / "data" / f"{spec.name}.csv"
    _write_csv(table, path)
    return {
        "name": spec.name.replace("_", "-"), "path": f"data/{spec.name}.csv", "profile": "tabular-data-resource",
        "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
        "description": f"{spec.grain}" + (" (rows of the active parameter sets)" if source != spec.name else ""),
        "bytes": path.stat().st_size, "hash": f"sha256:{_sha256(path)}", "schema": table_schema(spec),
    }


def table_schema(spec: "TableSpec") -> dict[str, Any]:
    """A Table Schema from a contract: one source of truth for both (units as each field's ``unit``)."""
    fields = []
    for c in spec.all_columns:
        field: dict[str, Any] = {"name": c.name, "type": FIELD_TYPES[c.dtype], "description": c.description}
        if c.unit:
            field["unit"] = c.unit
        if not c.nullable:
            field["constraints"] = {"required": True}
            if c.dtype == "string":  # "" is a value here ("no flags"), not a missing one
                field["missingValues"] = []
        fields.append(field)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if spec.key:  # unique per parameter set (schemas.core.TableSpec.key)
        schema["primaryKey"] = list(spec.key) + (["params_id"] if spec.measurement and "params_id" not in spec.key else [])
    return schema


def _sha256(path: Path) -> str:
    import fsspec

    from warehouse.verify import sha256_of  # as `socscope verify` checks files

    return sha256_of(fsspec.filesystem("file"), str(path))


def _write_csv(table: Any, path: Path) -> None:
    """CSV as Table Schema reads it: ISO 8601 datetimes in UTC (``…T…Z``), empty cells for nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    columns = []
    for col, field in zip(table.columns, table.schema):
        if pa.types.is_timestamp(field.type):
            col = pc.strftime(pc.cast(col, pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
        columns.append(col)
    pcsv.write_csv(pa.table(columns, names=table.column_names), str(path))


def _package(client: Any, resources: list[dict[str, Any]]) -> dict[str, Any]:
    from socscope.version import package_version

    campaign = getattr(client.campaign, "name", None) or Path(str(client.warehouse)).name
    from socscope.client_sql import manifest_version

    return {
        "profile": "tabular-data-package",
        "name": re.sub(r"[^a-z0-9._-]+", "-", campaign.lower()).strip("-") or "socscope-campaign",
        "title": f"socscope campaign {campaign}",
        "description": "Tables, lineage (raw files, sightings, ingest events, SOC-profile lineage), parameter "
                       "sets and findings of a socscope warehouse; units in each field's `unit`.",
        "version": f"manifest-{manifest_version(client)}",
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "socscope": {"version": package_version(), "warehouse_manifest_version": manifest_version(client)},
        "resources": resources,
    }
