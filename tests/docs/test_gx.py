"""Great Expectations suites generated from the table contracts: one per table, matching the contract
expectation for expectation; a frame broken in one way fails exactly the expectation of that rule (and
the writer's own pandera validation agrees); Data Docs are rendered."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pandas as pd
import pytest

from schemas.core import ContractViolation, conform
from schemas.platform import CELLS, INGEST_EVENTS
from warehouse.catalog import all_specs
from warehouse.expectations import table_expectations

gx = pytest.importorskip("great_expectations")


def expected_kinds(spec) -> Counter:
    """Read off the contract: what the suite must hold (the translation rules of warehouse/expectations.py)."""
    kinds = Counter({"ExpectTableColumnsToMatchSet": 1})
    checks = {"isin": "ExpectColumnValuesToBeInSet"}
    for c in spec.all_columns:
        kinds["ExpectColumnToExist"] += 1
        kinds["ExpectColumnValuesToBeInTypeList"] += 1
        kinds["ExpectColumnValuesToNotBeNull"] += not c.nullable
        for kind, _ in c.checks:
            kinds[checks.get(kind, "ExpectColumnValuesToBeBetween")] += 1
    key = list(spec.key) + (["params_id"] if spec.measurement and spec.key else [])
    if key:
        kinds["ExpectColumnValuesToBeUnique" if len(key) == 1 else "ExpectCompoundColumnsToBeUnique"] += 1
    return +kinds


def test_a_suite_per_table_matching_its_contract():
    from warehouse.gx_docs import context, suite_for

    ctx = context(None)
    specs = all_specs()
    assert {"cells", "ingest_events", "afm_maps", "sxpd_patterns", "xas_features", "echem_series",
            "soc_profile"} <= set(specs)
    for name, spec in specs.items():
        suite = suite_for(ctx, spec)
        got = Counter(type(e).__name__ for e in suite.expectations)
        assert got == expected_kinds(spec), name
    assert len(ctx.suites.all()) == len(specs)


def test_contract_rules_become_the_matching_expectations():
    """Checked against the contract as written in schemas/platform.py."""
    by_column = {}
    for e in table_expectations(INGEST_EVENTS):
        by_column.setdefault(e.kwargs.get("column"), []).append(e)
    stage = {e.kind: e.kwargs for e in by_column["stage"]}
    assert stage["ExpectColumnValuesToBeInSet"]["value_set"] == ["intake", "process", "finalize"]
    assert "ExpectColumnValuesToNotBeNull" in stage
    assert "ExpectColumnValuesToNotBeNull" not in {e.kind for e in by_column["reason"]}
    mass = {e.kind: e for e in table_expectations(CELLS) if e.kwargs.get("column") == "active_mass_mg"}
    between = mass["ExpectColumnValuesToBeBetween"]
    assert between.kwargs == {"column": "active_mass_mg", "min_value": 0, "strict_min": True}
    assert between.meta["unit"] == "mg"
    key = [e for e in table_expectations(CELLS) if e.kind == "ExpectCompoundColumnsToBeUnique"]
    assert key[0].kwargs["column_list"] == ["campaign", "cell_id"]


def _cells() -> pd.DataFrame:
    return pd.DataFrame({"campaign": ["c", "c"], "cell_id": ["coin1", "coin2"], "kind": ["coin", None],
                         "active_mass_mg": [20.26, 18.0], "nominal_capacity_mah_g": [150.0, 180.0],
                         "lower_cutoff_v": [3.0, 2.8], "upper_cutoff_v": [4.2, 4.3], "electrode_area_cm2": [1.13, None]})


def _events() -> pd.DataFrame:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return pd.DataFrame({"raw_sha256": ["a" * 64], "campaign": ["c"], "technique": ["afm"], "sample_id": [None],
                         "stage": ["process"], "status": ["quarantined"], "reason": ["truncated header"],
                         "error_type": ["UnreadableFile"], "traceback_digest": [None], "reader": ["asylum-ibw@3"],
                         "params_id": ["afm-default@1#abcd"], "code_version": ["x"], "settings_id": ["s0"],
                         "rows_written": pd.array([0], dtype="Int64"), "flow_run_id": [None],
                         "attempted_at": pd.Series([when], dtype="datetime64[us, UTC]"), "original_name": ["m.ibw"]})


BROKEN = {  # name -> (table, how the frame is broken, the one expectation that must fail)
    "mass_negative": (CELLS, lambda d: d.assign(active_mass_mg=[20.26, -1.0]),
                      "expect_column_values_to_be_between(active_mass_mg)"),
    "campaign_null": (CELLS, lambda d: d.assign(campaign=["c", None]), "expect_column_values_to_not_be_null(campaign)"),
    "key_twice": (CELLS, lambda d: d.assign(cell_id=["coin1", "coin1"]),
                  "expect_compound_columns_to_be_unique(['campaign', 'cell_id'])"),
    "column_extra": (CELLS, lambda d: d.assign(colour=["red", "blue"]), "expect_table_columns_to_match_set(table)"),
    "stage_unknown": (INGEST_EVENTS, lambda d: d.assign(stage=["reading"]), "expect_column_values_to_be_in_set(stage)"),
    "rows_as_text": (INGEST_EVENTS, lambda d: d.assign(rows_written=["none"]),
                     "expect_column_values_to_be_in_type_list(rows_written)"),
}


def test_valid_frames_pass_and_each_broken_one_fails_its_expectation_only():
    from warehouse.gx_docs import validate_tables

    good = {"cells": (CELLS, _cells()), "ingest_events": (INGEST_EVENTS, _events())}
    for spec, df in good.values():
        conform(spec, df)  # the writer accepts them
    assert all(r.success for r in validate_tables(good, None))
    frames = {name: (spec, broken(_cells() if spec is CELLS else _events()))
              for name, (spec, broken, _) in BROKEN.items()}
    for name, (spec, broken, expectation) in BROKEN.items():
        df = frames[name][1]
        (result,) = validate_tables({spec.name: (spec, df)}, None)
        assert not result.success, name
        assert [f.split(":")[0] for f in result.failed] == [expectation], (name, result.failed)
        with pytest.raises(ContractViolation):  # the pipeline's validator refuses it too
            conform(spec, df)


def test_data_docs_are_rendered(tmp_path):
    from warehouse.gx_docs import validate_tables

    docs = tmp_path / "reports" / "gx"
    results = validate_tables({"cells": (CELLS, _cells()),
                               "broken": (INGEST_EVENTS, _events().assign(stage=["reading"]))}, docs)
    assert [r.success for r in results] == [True, False]
    index = (docs / "index.html").read_text()
    assert "cells" in index and "ingest_events" in index
    assert list((docs / "validations").rglob("*.html")), "no validation page rendered"


def test_gx_is_not_imported_by_the_pipeline_modules():
    import subprocess
    import sys

    code = ("import sys, tasks.pipeline, warehouse.marts, warehouse.expectations, socscope.cli; "
            "print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
