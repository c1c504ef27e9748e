"""Table contracts: columns with dtype and unit, checks, and the key and lineage columns.

Every warehouse table is declared once as a ``TableSpec``. The writer validates each frame against
it (pandera), casts it to the declared Arrow types and stores units and descriptions in the
Parquet field metadata, so a file read by any tool still says what its numbers mean.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from schemas.failures import describe_failures
from schemas.nulls import NullRule

DTYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # a key of DTYPES
    unit: str = ""  # "" for text/ids, "1" for dimensionless numbers, otherwise e.g. "pm/V", "angstrom"
    description: str = ""
    nullable: bool = True
    #: value checks: ("ge", 0), ("le", 1), ("between", (a, b)), ("isin", [...]), ("finite", None)
    checks: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name!r}: unknown dtype {self.dtype!r}; use one of {sorted(DTYPES)}")


#: the reasons column of a table whose flags are about quality, not about missing values (schemas/nulls.py)
NULL_REASONS = Column("null_reasons", "string", "", "why feature columns of the row are null: '<columns>: <why>' "
                      "entries separated by '; ' (column names or flag words of the table's null rule); empty = none",
                      nullable=False)


KEY_COLUMNS: tuple[Column, ...] = (
    Column("campaign", "string", description="campaign name from the config", nullable=False),
    Column("sample_id", "string", description="sample (or cell for cycler files) the row belongs to"),
    Column("technique", "string", description="afm | sxpd | nexafs | echem", nullable=False),
    Column("mode", "string", description="technique mode, e.g. ESM, CAFM, TEY, FY, GITT"),
    Column("measurement_id", "string", description="sha256 prefix of the raw file [:part]", nullable=False),
)

LINEAGE_COLUMNS: tuple[Column, ...] = (
    Column("raw_sha256", "string", description="sha256 of the raw file the row came from"),
    Column("reader", "string", description="reader name@version"),
    Column("params_id", "string", description="parameter set name@version#digest", nullable=False),
    Column("flow_run_id", "string", description="Prefect flow run that wrote the row"),
    Column("processed_at", "timestamp", description="when the row was computed (UTC)", nullable=False),
)


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table. ``grain`` says what one row is; ``key`` must be unique per params_id."""

    name: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    #: measurement tables carry the join keys and lineage; catalog tables (raw_files...) don't
    measurement: bool = True
    partition_by: tuple[str, ...] = ("technique", "sample_id")
    #: extra frame-level checks: (description, fn(df) -> bool)
    frame_checks: tuple[tuple[str, Callable[[pd.DataFrame], bool]], ...] = field(default=(), compare=False)
    #: which columns are features and where the reason for a null lives (schemas/nulls.py); None: the default rule
    nulls: NullRule | None = field(default=None, compare=False)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        if self.measurement:
            framework = {k.name for k in KEY_COLUMNS + LINEAGE_COLUMNS}
            own = tuple(c for c in self.columns if c.name not in framework)
            return KEY_COLUMNS + own + LINEAGE_COLUMNS
        return self.columns

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.all_columns]

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        fields = []
        for c in self.all_columns:
            meta = {"unit": c.unit, "description": c.description}
            fields.append(pa.field(c.name, DTYPES[c.dtype], nullable=c.nullable, metadata={k: v.encode() for k, v in meta.items()}))
        table_meta = {"socscope.table": self.name, "socscope.grain": self.grain,
                      "socscope.units": json.dumps({c.name: c.unit for c in self.all_columns})}
        return pa.schema(fields, metadata={k: v.encode() for k, v in table_meta.items()})

    def units(self) -> dict[str, str]:
        return {c.name: c.unit for c in self.all_columns}


def schema_digest(spec: TableSpec) -> str:
    """Short digest of a table's Arrow schema, kept per data file in the manifest: the catalog reads
    the footers of files whose digest differs from the contract's (written before a column was added)."""
    return hashlib.sha256(spec.arrow_schema().to_string(show_schema_metadata=False).encode()).hexdigest()[:12]


#: value checks of Column.checks, as vectorised predicates on the non-null values of a column
CHECKS: dict[str, Callable[[pd.Series, Any], Any]] = {
    "ge": lambda s, v: s >= v,
    "le": lambda s, v: s <= v,
    "gt": lambda s, v: s > v,
    "lt": lambda s, v: s < v,
    "between": lambda s, v: (s >= v[0]) & (s <= v[1]),
    "isin": lambda s, v: s.isin(list(v)),
    "finite": lambda s, v: np.isfinite(s.astype("float64")),
}

_PANDERA_CACHE: dict[str, Any] = {}


def _pandera_schema(spec: TableSpec):
    import pandera.pandas as pa_pd

    cached = _PANDERA_CACHE.get(spec.name)
    if cached is not None and cached[0] is spec:
        return cached[1]
    cols = {}
    for c in spec.all_columns:
        # the same vectorised predicates as the fast path; pandera drops nulls before applying them
        checks = [pa_pd.Check(lambda s, fn=CHECKS[kind], v=val: fn(s, v), error=f"{kind} {val!r}")
                  for kind, val in c.checks]
        cols[c.name] = pa_pd.Column(nullable=c.nullable, checks=checks, required=True, coerce=False)
    unique = list(spec.key) + (["params_id"] if spec.measurement and spec.key else []) or None
    schema = pa_pd.DataFrameSchema(cols, strict=True, unique=unique)
    _PANDERA_CACHE[spec.name] = (spec, schema)
    return schema


_ARROW_SCHEMA_CACHE: dict[str, tuple[TableSpec, pa.Schema]] = {}


def _arrow_schema(spec: TableSpec) -> pa.Schema:
    """``spec.arrow_schema()``, built once per spec (Arrow schemas are immutable)."""
    cached = _ARROW_SCHEMA_CACHE.get(spec.name)
    if cached is None or cached[0] is not spec:
        cached = _ARROW_SCHEMA_CACHE[spec.name] = (spec, spec.arrow_schema())
    return cached[1]


def _certainly_valid(spec: TableSpec, df: pd.DataFrame) -> bool:
    """The pandera schema's checks (nullability, value checks ignoring nulls, key uniqueness) done
    column-wise on whole columns, without pandera's per-column overhead. True only when the frame
    certainly passes; False means "not sure" (a failure, or a column the vectorised checks cannot
    judge), and pandera then decides and words the failure, so behaviour and messages are unchanged."""
    try:
        if df.columns.has_duplicates:
            return False
        for c in spec.all_columns:
            if c.nullable and not c.checks:
                continue  # nothing to check
            s = df[c.name]
            na = s.isna()
            has_na = bool(na.any())
            if has_na and not c.nullable:
                return False
            for kind, val in c.checks:
                ok = CHECKS[kind](s[~na] if has_na else s, val)
                if not bool(np.all(np.asarray(ok, dtype=bool))):
                    return False
        unique = list(spec.key) + (["params_id"] if spec.measurement and spec.key else [])
        if unique and len(df) > 1:
            keys = [df[k] for k in unique]
            if len(df) <= 10_000 and not any(bool(k.isna().any()) for k in keys):
                # small frames: a set of key tuples (no nulls, so equality is plain value equality)
                if len(set(zip(*(k.tolist() for k in keys)))) != len(df):
                    return False
            elif bool(df.duplicated(subset=unique).any()):
                return False
        return True
    except Exception:  # noqa: BLE001 - anything unexpected: let pandera judge
        return False


class ContractViolation(ValueError):
    """A frame does not meet its table contract; the message names table, column and failing values."""


def conform(spec: TableSpec, df: pd.DataFrame) -> pa.Table:
    """Validate a frame against its contract and return an Arrow table with units in its metadata."""
    names = spec.column_names
    declared, present = set(names), set(df.columns)
    missing = [c for c in names if c not in present]
    extra = [c for c in df.columns if c not in declared]
    if missing or extra:
        raise ContractViolation(
            f"table {spec.name!r}: columns missing {missing}, columns not in the contract {extra}; "
            f"declare new columns (with their unit) in schemas/ before writing them")
    df = df[names]
    import pandera.errors as pe

    try:
        if not _certainly_valid(spec, df):
            _pandera_schema(spec).validate(df, lazy=True)
    except pe.SchemaErrors as exc:
        failures = describe_failures(exc.failure_cases)
        raise ContractViolation(f"table {spec.name!r} failed {len(failures)} check{'s' if len(failures) > 1 else ''}:\n"
                                + "\n".join(f"- {line}" for line in failures)) from None
    for desc, fn in spec.frame_checks:
        if not fn(df):
            raise ContractViolation(f"table {spec.name!r} failed frame check: {desc}")
    try:
        return _to_arrow(df, _arrow_schema(spec))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ContractViolation(f"table {spec.name!r}: cannot cast to its declared types: {exc}") from None


def _to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``pa.Table.from_pandas(df, schema, safe=False)``, with categorical text columns decoded in Arrow:
    from_pandas makes a Python object of every value first (30 ms for the region column of a 512x512
    map). The result, its pandas metadata included, is the one from_pandas gives."""
    text = [f.name for f in schema if pa.types.is_string(f.type) and isinstance(df[f.name].dtype, pd.CategoricalDtype)
            and df[f.name].cat.categories.inferred_type in ("string", "empty")]
    if not text or len(df) < 1000:  # small frames: nothing to save
        return pa.Table.from_pandas(df, schema=schema, preserve_index=False, safe=False)
    rest = pa.schema([f for f in schema if f.name not in text], metadata=schema.metadata)
    body = pa.Table.from_pandas(df.drop(columns=text), schema=rest, preserve_index=False, safe=False)
    decoded = {name: pa.array(df[name].array).dictionary_decode().cast(pa.string()) for name in text}
    # the pandas metadata depends on the dtypes only: take it from an empty slice of the whole frame
    meta = pa.Table.from_pandas(df.iloc[:0], schema=schema, preserve_index=False, safe=False).schema.metadata
    columns = [decoded[f.name] if f.name in decoded else body.column(f.name) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema.with_metadata(meta))
