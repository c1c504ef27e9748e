"""Issue 18: no feature column holds a null without a reason in words (schemas/nulls.py).

The rule is checked three ways: on spec-built tables whose offenders are known by construction, on
every registered table's declaration (a typo in a glob or a reason column fails here, not silently),
and over every table of the small demo warehouse (slow).
"""
from __future__ import annotations

from fnmatch import fnmatch

import duckdb
import numpy as np
import pandas as pd
import pytest

from schemas.core import Column, TableSpec
from schemas.nulls import (
    FLOAT_DTYPES,
    NullRule,
    feature_columns,
    rule_of,
    unexplained_nulls,
)
from warehouse.catalog import all_specs
from warehouse.null_reasons import check_warehouse


def _spec(name: str, nulls: NullRule | None, *extra: Column) -> TableSpec:
    return TableSpec(name=name, grain="row", measurement=False, partition_by=(), key=("id",), nulls=nulls,
                     columns=(Column("id", "string"), Column("n", "int64", "1"), Column("x_ev", "float64", "eV"),
                              Column("y_ev", "float64", "eV"), *extra))


def _run(specs_frames: dict[TableSpec, pd.DataFrame]) -> dict[tuple[str, str], int]:
    con = duckdb.connect()
    for spec, df in specs_frames.items():
        con.register(spec.name, df)
    got = unexplained_nulls(lambda sql: con.execute(sql).df(), specs_frames)
    return {(r.table, r.column): r.rows for r in got.itertuples()}


def test_a_table_without_a_declaration_and_without_flags_has_every_null_as_offender():
    spec = _spec("bare", None)
    df = pd.DataFrame({"id": ["a", "b", "c"], "n": [1, 2, 3], "x_ev": [1.0, np.nan, None], "y_ev": [1.0, 2.0, 3.0]})
    assert _run({spec: df}) == {("bare", "x_ev"): 2}  # NaN and null both count


def test_the_default_rule_reads_quality_flags_and_needs_the_column_named():
    spec = _spec("flagged", None, Column("quality_flags", "string"))
    assert rule_of(spec).reasons == "quality_flags"
    df = pd.DataFrame({"id": ["a", "b", "c"], "n": [1, 1, 1], "x_ev": [np.nan, np.nan, np.nan],
                       "y_ev": [np.nan, 1.0, 1.0],
                       # a names both; b a longer word that contains the name (no match); c nothing
                       "quality_flags": ["x_ev, y_ev: window empty", "max_x_ev_seen", ""]})
    assert _run({spec: df}) == {("flagged", "x_ev"): 2}


def test_flag_words_conditions_parents_and_non_features_explain_nulls():
    parent = _spec("parent", NullRule(reasons="why"), Column("why", "string"))
    child = _spec("child", NullRule(reasons="why", via=("parent", ("id",)), covers=(("no x channel", ("x_*",)),),
                                    when=(("y_*", "n < 2", "one observation"),)))
    skipped = _spec("skipped", NullRule(not_features=(("x_ev", "copied from the file"),)))
    parents = pd.DataFrame({"id": ["a", "b"], "n": [1, 1], "x_ev": [1.0, 1.0], "y_ev": [1.0, 1.0],
                            "why": ["no x channel in this map", ""]})
    children = pd.DataFrame({"id": ["a", "a", "b", "b"], "n": [1, 5, 1, 5], "x_ev": np.nan,
                             "y_ev": [np.nan, np.nan, np.nan, 2.0]})
    got = _run({parent: parents, child: children, skipped: children})
    # x: explained on a's rows by the parent's phrase, not on b's; y: n < 2 explains rows 0 and 2, not row 1
    assert got == {("child", "x_ev"): 2, ("child", "y_ev"): 1, ("skipped", "y_ev"): 3}


@pytest.mark.parametrize("name", sorted(all_specs()))
def test_every_registered_declaration_names_what_the_table_has(name):
    spec = all_specs()[name]
    rule = rule_of(spec)
    columns = {c.name for c in spec.all_columns}
    floats = [c.name for c in spec.all_columns if c.dtype in FLOAT_DTYPES]
    feature_columns(spec)  # declared features exist
    assert {n for n, _ in rule.not_features} <= columns
    for glob, _, _ in rule.when:
        assert any(fnmatch(c, glob) for c in floats), f"{name}: {glob!r} matches no float column"
    every_float = {c.name for s in all_specs().values() for c in s.all_columns if c.dtype in FLOAT_DTYPES}
    for word, globs in rule.covers:  # flag words may be shared by the tables of a technique
        assert all(any(fnmatch(c, g) for c in every_float) for g in globs), f"{name}: {word!r} covers nothing"
    if rule.via:
        parent = all_specs()[rule.via[0]]
        assert set(rule.via[1]) <= columns & {c.name for c in parent.all_columns}
        assert set(rule.reason_columns) <= {c.name for c in parent.all_columns}
    else:
        assert set(rule.reason_columns) <= columns


@pytest.mark.slow
def test_no_feature_column_of_the_demo_warehouse_holds_a_null_without_a_reason(demo_campaign):
    from tasks import pipeline

    wh = pipeline.open_warehouse(demo_campaign)
    offenders = check_warehouse(wh)
    assert offenders.empty, "\n" + offenders.to_string()
    # not vacuous: the demo does hold nulls that need their reasons (absent channels, unfitted peaks, ...)
    nulls = wh.query("select count(*) - count(current_pa) as a, (select count(*) - count(fwhm_deg) from sxpd_peaks) "
                     "as b, (select count(*) - count(k_half_step_ev) from xas_features) as c from afm_pixels")
    assert (nulls.iloc[0] > 0).all()
    checked = set(wh.manifest().tables) & set(all_specs())
    assert {"afm_maps", "afm_pixels", "xas_features", "sxpd_patterns", "echem_cycles", "soc_profile"} <= checked
