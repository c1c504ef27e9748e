"""Marts flow: rebuild the cross-technique marts (SQL in warehouse/marts/) when their inputs changed."""
from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows._ops import ProgressReporter, markdown_artifact
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
)
from warehouse import marts


def rebuild_marts(loaded: LoadedCampaign, force: bool = False) -> dict:
    """The marts step of the current flow run (a campaign run calls it in its own run: a flow run of
    its own would add its states and heartbeat and show nothing the run's progress does not)."""
    campaign = loaded.campaign
    built = marts.build_marts(campaign, guarded_warehouse(campaign), current_run_id(), force=force,
                              progress=ProgressReporter("marts"))
    for name, info in built.items():
        print(f"mart {name}: {info}")
    if built.get("report"):
        md = Path(built["report"]).with_suffix(".md").read_text(encoding="utf-8")
        markdown_artifact(md, key="findings-report", description="findings of SCIENCE.md checked on the warehouse")
    return built


@flow(name="marts", log_prints=True)
def marts_flow(config: CampaignArg, force: bool = False) -> dict:
    return rebuild_marts(LoadedCampaign.load(config), force)
