"""Validate warehouse tables with Great Expectations suites generated from their contracts, and
render GX Data Docs (``socscope validate --data-docs``). Needs the ``gx`` extra; imported only by
that command, never on the pipeline's path (pandera stays the writer's validator)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from schemas.core import TableSpec
from warehouse.expectations import table_expectations


@dataclass(frozen=True)
class TableResult:
    table: str
    rows: int
    success: bool
    expectations: int
    failed: list[str]  # "kind(column): observed" per failing expectation


def gx_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as GX 1.x can type-check it: columns of a pandas extension dtype (str, Int64,
    boolean, tz-aware timestamps) become objects (values checked one by one, nulls as None);
    plain numpy columns stay as they are."""
    out = df.copy()
    for name in out.columns:
        if not isinstance(out[name].dtype, type(pd.Series([1.0]).dtype)):  # not a plain numpy dtype
            col = out[name].astype(object)
            out[name] = col.where(out[name].notna(), None)
    return out


def context(docs_dir: Path | None):
    """An ephemeral GX context with a pandas source; Data Docs under ``docs_dir`` when given."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        ctx.add_data_docs_site(site_name="socscope", site_config={
            "class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}})
    ctx.data_sources.add_pandas("warehouse")
    return ctx


def suite_for(ctx, spec: TableSpec):
    """The table's GX expectation suite, generated from its contract and added to ``ctx``."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [getattr(gxe, e.kind)(**e.kwargs, meta=e.meta or None) for e in table_expectations(spec)]
    # built whole, then added once: adding expectations one by one to a stored suite saves it each time
    return ctx.suites.add(gx.ExpectationSuite(name=spec.name, expectations=expectations,
                                              meta={"grain": spec.grain, "source": "schemas/ table contract"}))


def validate_table(ctx, spec: TableSpec, df: pd.DataFrame, *, data_docs: bool) -> TableResult:
    """Run the table's suite on ``df`` (through a checkpoint, so the result lands in the Data Docs)."""
    import great_expectations as gx

    asset = ctx.data_sources.get("warehouse").add_dataframe_asset(name=spec.name)
    batch = asset.add_batch_definition_whole_dataframe("current snapshot")
    definition = ctx.validation_definitions.add(gx.ValidationDefinition(name=spec.name, data=batch,
                                                                        suite=suite_for(ctx, spec)))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["socscope"])] if data_docs else []
    checkpoint = ctx.checkpoints.add(gx.Checkpoint(name=spec.name, validation_definitions=[definition],
                                                   actions=actions, result_format="SUMMARY"))
    run = checkpoint.run(batch_parameters={"dataframe": gx_frame(df)})
    results = [r for v in run.run_results.values() for r in v.results]
    failed = [f"{r.expectation_config.type}({_target(r.expectation_config.kwargs)}): {_observed(r.result)}"
              for r in results if not r.success]
    return TableResult(spec.name, len(df), run.success, len(results), failed)


def _target(kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("column") or kwargs.get("column_list") or "table")


def _observed(result: dict[str, Any]) -> str:
    if result.get("unexpected_count"):
        return f"{result['unexpected_count']} unexpected, e.g. {result.get('partial_unexpected_list', [])[:3]}"
    return f"observed {result.get('observed_value')!r}"


def table_frames(wh, names: list[str], specs: dict[str, TableSpec]) -> dict[str, tuple[TableSpec, pd.DataFrame]]:
    """Every row of each named table of the current warehouse version (all parameter sets)."""
    from foundation.sql import ident

    return {name: (specs[name], wh.query("select * from " + ident(name))) for name in names}


def validate_tables(frames: dict[str, tuple[TableSpec, pd.DataFrame]], docs_dir: Path | None) -> list[TableResult]:
    """Validate each (spec, frame); with ``docs_dir``, render the Data Docs there (index.html)."""
    ctx = context(docs_dir)
    results = [validate_table(ctx, spec, df, data_docs=docs_dir is not None) for spec, df in frames.values()]
    if docs_dir is not None:
        ctx.build_data_docs(site_names=["socscope"])
    return results
