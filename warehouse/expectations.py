"""The table contracts (``schemas/``: TableSpec, Column) as Great Expectations suites.

One source of truth: every expectation is derived from the contract the writer validates with
(pandera, ``schemas.core.conform``), never written by hand. Per table:

- the column set, exactly (the contract is strict);
- per column: it exists, its values are of the declared type, not null where the contract says so,
  and each value check (ge/gt/le/lt/between/isin/finite) as the matching GX expectation;
- the key (plus ``params_id`` for measurement tables) unique.

This module only describes expectations (plain tuples); ``warehouse.gx_docs`` turns them into GX
objects, so that importing it costs nothing and GX stays optional (the ``gx`` extra).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from schemas.core import Column, TableSpec

#: per contract dtype: the numpy dtype name GX reports for a plain column, and the Python type name
#: of each value when the column is held as objects (pandas extension dtypes: nullable ints, str,
#: tz-aware timestamps, which GX 1.x does not type-check), see ``gx_frame``
TYPE_NAMES: dict[str, list[str]] = {
    "string": ["str"],
    "int64": ["int64", "int"],
    "int32": ["int32", "int"],
    "float64": ["float64", "float"],
    "float32": ["float32", "float"],
    "bool": ["bool"],
    "timestamp": ["Timestamp", "datetime"],
}


@dataclass(frozen=True)
class Expectation:
    """One GX expectation: its class name in ``great_expectations.expectations`` and its arguments."""

    kind: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def _value_check(column: Column, kind: str, value: Any) -> Expectation:
    """A contract value check as a GX expectation (nulls are ignored by both, as pandera does)."""
    name, meta = column.name, {"contract_check": f"{kind} {value!r}", "unit": column.unit}
    bounds = {"ge": {"min_value": value}, "gt": {"min_value": value, "strict_min": True},
              "le": {"max_value": value}, "lt": {"max_value": value, "strict_max": True},
              "between": {"min_value": value[0] if kind == "between" else None,
                          "max_value": value[1] if kind == "between" else None},
              "finite": {"min_value": -sys.float_info.max, "max_value": sys.float_info.max}}
    if kind == "isin":
        return Expectation("ExpectColumnValuesToBeInSet", {"column": name, "value_set": list(value)}, meta)
    if kind not in bounds:
        raise ValueError(f"column {name!r}: no GX expectation for the contract check {kind!r}")
    return Expectation("ExpectColumnValuesToBeBetween", {"column": name, **bounds[kind]}, meta)


def column_expectations(column: Column) -> list[Expectation]:
    meta = {"unit": column.unit, "description": column.description}
    out = [Expectation("ExpectColumnToExist", {"column": column.name}, meta),
           Expectation("ExpectColumnValuesToBeInTypeList",
                       {"column": column.name, "type_list": TYPE_NAMES[column.dtype]}, {"dtype": column.dtype})]
    if not column.nullable:
        out.append(Expectation("ExpectColumnValuesToNotBeNull", {"column": column.name}))
    return out + [_value_check(column, kind, value) for kind, value in column.checks]


def unique_key(spec: TableSpec) -> list[str]:
    """The columns whose combination is unique (as the writer's pandera schema has it)."""
    return list(spec.key) + (["params_id"] if spec.measurement and spec.key else [])


def table_expectations(spec: TableSpec) -> list[Expectation]:
    """Every expectation of one table's contract, in column order."""
    out = [Expectation("ExpectTableColumnsToMatchSet", {"column_set": spec.column_names, "exact_match": True},
                       {"grain": spec.grain})]
    for column in spec.all_columns:
        out += column_expectations(column)
    key = unique_key(spec)
    if len(key) == 1:
        out.append(Expectation("ExpectColumnValuesToBeUnique", {"column": key[0]}))
    elif key:
        out.append(Expectation("ExpectCompoundColumnsToBeUnique", {"column_list": key}))
    return out
