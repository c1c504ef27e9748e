"""The rule "no feature column holds a null without a reason in words", checked on a warehouse.

Each table's rule is declared with its contract (``TableSpec.nulls``, schemas/nulls.py); this module
turns it into one SQL count per feature column: null or NaN values whose row (or parent row) gives no
reason naming the column, no declared flag word covering it, and no declared structural condition.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

import pandas as pd

from schemas.core import TableSpec
from schemas.nulls import FLOAT_DTYPES, feature_columns, rule_of

REASON = "_null_reason"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _source(spec: TableSpec) -> str:
    """The table with its reasons as one column ``_null_reason`` ('' when the table has none)."""
    rule = rule_of(spec)
    cols = rule.reason_columns
    if rule.via is None:
        reason = f"concat_ws('; ', {', '.join(f't.{c}' for c in cols)})" if cols else "''"
        return f"(select t.*, {reason} as {REASON} from {spec.name} t)"
    parent, keys = rule.via
    on = " and ".join(f"t.{k} is not distinct from p.{k}" for k in keys)
    return (f"(select t.*, coalesce(p.{REASON}, '') as {REASON} from {spec.name} t left join "
            f"(select distinct {', '.join(keys)}, concat_ws('; ', {', '.join(cols)}) as {REASON} from {parent}) p "
            f"on {on})")


def _explained(spec: TableSpec, column: str) -> str:
    rule = rule_of(spec)
    word = re.escape(column)
    terms = [f"regexp_matches({REASON}, {_sql_text(f'(^|[^A-Za-z0-9_]){word}([^A-Za-z0-9_]|$)')})"]
    terms += [f"contains({REASON}, {_sql_text(w)})" for w in rule.explained_by_words(column)]
    terms += [f"coalesce(({cond}), false)" for cond in rule.conditions(column)]
    return " or ".join(terms)


def column_sql(spec: TableSpec, column: str) -> str:
    """Rows of ``column`` null (or NaN) without a reason, and one example row's id."""
    is_float = spec.column(column).dtype in FLOAT_DTYPES
    missing = f"({column} is null{f' or isnan({column})' if is_float else ''})"
    example = "measurement_id" if spec.measurement else spec.key[0] if spec.key else "null"
    return (f"select count(*) as n, any_value({example}::varchar) as example from {_source(spec)} "
            f"where {missing} and not ({_explained(spec, column)})")


def unexplained_nulls(query: Callable[[str], pd.DataFrame], specs: Iterable[TableSpec]) -> pd.DataFrame:
    """One row per (table, column) holding nulls without a reason: how many rows, one example id."""
    rows = []
    for spec in specs:
        for column in feature_columns(spec):
            got = query(column_sql(spec, column)).iloc[0]
            if int(got["n"]):
                rows.append({"table": spec.name, "column": column, "rows": int(got["n"]), "example": got["example"]})
    return pd.DataFrame(rows, columns=["table", "column", "rows", "example"])


def check_warehouse(wh) -> pd.DataFrame:
    """The rule over every table of the warehouse that has data, each with its registered contract."""
    from warehouse.catalog import all_specs

    specs = all_specs()
    present = [specs[name] for name in sorted(wh.manifest().tables) if name in specs]
    return unexplained_nulls(wh.query, present)
