"""Campaign flow: register the config, intake every share, process new files, rebuild the marts."""
from __future__ import annotations

from prefect import flow

from flows import _ops
from flows._runtime import LoadedCampaign, current_run_id, guarded_warehouse
from flows.intake import intake_flow
from flows.marts import marts_flow
from flows.process import process_flow
from tasks import pipeline
from warehouse.warnings import warning_lines


@flow(name="campaign", log_prints=True, timeout_seconds=12 * 3600)
def campaign_flow(config: str, techniques: list[str] | None = None, build_marts: bool = True) -> dict:
    loaded = LoadedCampaign.load(config)
    campaign = loaded.campaign
    wh = guarded_warehouse(campaign)
    started = pipeline.now_utc()
    before = wh.manifest()
    pipeline.register_campaign(campaign, wh, current_run_id())
    shares = [s.name for s in campaign.shares if not techniques or s.technique in techniques]
    intake = intake_flow(loaded, shares)
    processed = process_flow(loaded, techniques)
    marts = marts_flow(loaded) if build_marts else {}
    run_id = current_run_id()
    family = _ops.run_family(run_id)
    summary = pipeline.run_summary(campaign, wh, family)
    _ops.table_artifact(summary["tables"], key="warehouse-rows", description="rows per warehouse table")
    if summary["quarantine"]:
        _ops.table_artifact(summary["quarantine"], key="quarantine", description="quarantined files and reasons")
    if summary["warnings"]:
        _ops.table_artifact(summary["warnings"], key="warnings", description="values not to trust as they are")
    print("\n".join(["warnings:", *warning_lines(summary["warnings"])]))
    _ops.publish_run_report(_ops.run_report(wh, run_id, before, list(zip(shares, intake)), family),
                            "campaign")
    pipeline.log_run(campaign, wh, current_run_id(), "campaign", started)
    return {"intake": intake, "process": processed, "marts": marts, **summary}
