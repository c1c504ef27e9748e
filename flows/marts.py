"""Marts flow: rebuild the cross-technique marts (SQL in warehouse/marts/) when their inputs changed."""
from __future__ import annotations

from prefect import flow

from flows._ops import ProgressReporter
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
)
from warehouse import marts


@flow(name="marts", log_prints=True)
def marts_flow(config: CampaignArg, force: bool = False) -> dict:
    campaign = LoadedCampaign.load(config).campaign
    built = marts.build_marts(campaign, guarded_warehouse(campaign), current_run_id(), force=force,
                              progress=ProgressReporter("marts"))
    for name, info in built.items():
        print(f"mart {name}: {info}")
    if built.get("report"):
        from pathlib import Path

        from flows._ops import markdown_artifact

        md = Path(built["report"]).with_suffix(".md").read_text(encoding="utf-8")
        markdown_artifact(md, key="findings-report", description="findings of SCIENCE.md checked on the warehouse")
    return built
