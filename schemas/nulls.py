"""Why a feature column may be null: the table rule of issue 18 ("never a bare NaN").

Every table declares (``TableSpec.nulls``) which of its columns are features and where the reason for a
null lives; ``warehouse/null_reasons.py`` checks the rule on the warehouse. A null (or NaN) in a
feature column is explained on its row when one of these holds:

- the row's reason column (``reasons``, or the same column on a parent row: ``via``) names the column,
  as a word: ``"k_half_step_ev, k_white_line_ev: not applicable to Ni_L"``;
- the reason text holds a flag word that the table declares to explain that column (``covers``:
  ``"e0_not_measured"`` explains every feature, ``"strain hk0"`` the ``microstrain_hk0_*`` columns);
- a declared structural condition holds on the row (``when``: ``std`` of one observation, a peak that
  was not fitted): the null follows from another column of the same row, and the contract says why.

A table that declares nothing is checked all the same: its features are all its own float columns and
its reasons the first of ``quality_flags``, ``fit_flags`` or ``*_flag(s)``, so a new table is covered the
moment it is registered.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatch

import pandas as pd

#: columns the platform stamps; never features
_FRAMEWORK = {"campaign", "sample_id", "technique", "mode", "measurement_id", "raw_sha256", "reader", "params_id",
              "flow_run_id", "processed_at"}
FLOAT_DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class NullRule:
    #: column(s) holding the reasons in words, on the row or on the ``via`` row
    reasons: str | tuple[str, ...] | None = None
    #: (parent table, join columns): the reasons live on the parent row (pixels of a map, points of a spectrum)
    via: tuple[str, tuple[str, ...]] | None = None
    #: feature columns; None = every float column of the table's own
    features: tuple[str, ...] | None = None
    #: (flag word, column globs it explains)
    covers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: (column glob, SQL condition on the row, why): nulls that follow from another column of the row
    when: tuple[tuple[str, str, str], ...] = ()
    #: (column, why it is no feature): copied from the file or the configuration, null when not stated there
    not_features: tuple[tuple[str, str], ...] = ()

    @property
    def reason_columns(self) -> tuple[str, ...]:
        return (self.reasons,) if isinstance(self.reasons, str) else tuple(self.reasons or ())

    def explained_by_words(self, column: str) -> list[str]:
        return [word for word, globs in self.covers if any(fnmatch(column, g) for g in globs)]

    def conditions(self, column: str) -> list[str]:
        return [cond for glob, cond, _ in self.when if fnmatch(column, glob)]


def flag_column(spec) -> str | None:
    """The column a table without a declaration keeps its reasons in."""
    names = [c.name for c in spec.all_columns if c.dtype == "string"]
    for name in ("quality_flags", "fit_flags"):
        if name in names:
            return name
    return next((n for n in names if n.endswith(("_flag", "_flags"))), None)


def rule_of(spec) -> NullRule:
    """The table's declared rule, or the default one (all float columns, the flag column)."""
    return spec.nulls if spec.nulls is not None else NullRule(reasons=flag_column(spec))


def feature_columns(spec) -> list[str]:
    rule = rule_of(spec)
    skip = {name for name, _ in rule.not_features} | _FRAMEWORK
    floats = [c.name for c in spec.all_columns if c.dtype in FLOAT_DTYPES and c.name not in skip]
    if rule.features is None:
        return floats
    unknown = sorted(set(rule.features) - {c.name for c in spec.all_columns})
    if unknown:
        raise ValueError(f"table {spec.name!r} declares features {unknown} it does not have")
    return [c for c in rule.features if c not in skip]


# --- the check: one SQL count per feature column (warehouse/null_reasons.py, tasks/testing.py) ---

REASON = "_null_reason"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _source(spec) -> str:
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


def _explained(spec, column: str) -> str:
    rule = rule_of(spec)
    word = re.escape(column)
    terms = [f"regexp_matches({REASON}, {_sql_text(f'(^|[^A-Za-z0-9_]){word}([^A-Za-z0-9_]|$)')})"]
    terms += [f"contains({REASON}, {_sql_text(w)})" for w in rule.explained_by_words(column)]
    terms += [f"coalesce(({cond}), false)" for cond in rule.conditions(column)]
    return " or ".join(terms)


def column_sql(spec, column: str) -> str:
    """Rows of ``column`` null (or NaN) without a reason, and one example row's id."""
    is_float = spec.column(column).dtype in FLOAT_DTYPES
    missing = f"({column} is null{f' or isnan({column})' if is_float else ''})"
    example = "measurement_id" if spec.measurement else spec.key[0] if spec.key else "null"
    return (f"select count(*) as n, any_value({example}::varchar) as example from {_source(spec)} "
            f"where {missing} and not ({_explained(spec, column)})")


def unexplained_nulls(query: Callable[[str], pd.DataFrame], specs: Iterable) -> pd.DataFrame:
    """One row per (table, column) holding nulls without a reason: how many rows, one example id."""
    rows = []
    for spec in specs:
        for column in feature_columns(spec):
            got = query(column_sql(spec, column)).iloc[0]
            if int(got["n"]):
                rows.append({"table": spec.name, "column": column, "rows": int(got["n"]), "example": got["example"]})
    return pd.DataFrame(rows, columns=["table", "column", "rows", "example"])
