"""Campaign flow: register the config, intake every share, process new files, rebuild the marts.

One flow run does the steps (intake and the batches are its tasks, the marts a plain call) and the
``process`` subflow the files: a subflow run costs its states and events, so only the stage people
time and watch on its own has one (its start and end are the processing time, bench/scale.py).
"""
from __future__ import annotations

from prefect import flow

from flows import _ops
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    beating,
    current_run_id,
    guarded_warehouse,
    no_heartbeats,
)
from flows.intake import intake_shares, say_intake
from flows.marts import rebuild_marts
from flows.process import process_flow
from tasks import pipeline
from warehouse.warnings import warning_lines


@flow(name="campaign", log_prints=True, timeout_seconds=12 * 3600)
def campaign_flow(config: CampaignArg, techniques: list[str] | None = None, build_marts: bool = True) -> dict:
    with beating():  # when the caller asked for heartbeats that stop at once (flows._runtime)
        return campaign_run(config, techniques, build_marts)


def campaign_run(config: CampaignArg, techniques: list[str] | None, build_marts: bool) -> dict:
    """The campaign flow run's work."""
    loaded = LoadedCampaign.load(config)
    campaign = loaded.campaign
    if not campaign.execution.dask_address:  # file workers of this process (a Dask cluster's are its own)
        # their imports (~1.5 s) run beside the registration and intake, not before the first file: first
        # thing, as the warehouse's requests before them took ~1 s on an object store, which then fell
        # into the processing stage when there was little to take in
        pipeline.warm_file_workers(campaign)
    wh = guarded_warehouse(campaign)
    run_id = current_run_id()
    started = pipeline.now_utc()
    before = wh.manifest()
    pipeline.register_campaign(campaign, wh, run_id)
    shares = pipeline.run_shares(campaign, techniques)
    intake = intake_shares(loaded, shares)
    say_intake("shares " + ", ".join(shares), intake)
    with no_heartbeats():  # the subflow runs in this process: this run's heartbeat says it lives
        processed = process_flow(loaded, techniques)
    marts = rebuild_marts(loaded) if build_marts else {}
    family = _ops.run_family(run_id)
    summary = pipeline.run_summary(campaign, wh, family)
    _ops.table_artifact(summary["tables"], key="warehouse-rows", description="rows per warehouse table")
    if summary["quarantine"]:
        _ops.table_artifact(summary["quarantine"], key="quarantine", description="quarantined files and reasons")
    if summary["warnings"]:
        _ops.table_artifact(summary["warnings"], key="warnings", description="values not to trust as they are")
    print("\n".join(["warnings:", *warning_lines(summary["warnings"])]))
    _ops.publish_run_report(_ops.run_report(wh, run_id, before, [(", ".join(shares), intake)], family), "campaign")
    pipeline.log_run(campaign, wh, run_id, "campaign", started)
    return {"intake": [intake], "process": processed, "marts": marts, **summary}
