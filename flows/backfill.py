"""Backfill: take a share's whole history (after an outage, a new share or technique) in bounded chunks.

The same steps as the campaign flow, but every share is listed and every pending file processed in
commits of ``chunk`` files, so a long backfill that stops resumes where it stopped; the cross-file
step and the marts are rebuilt at the end even if their inputs look unchanged.
"""
from __future__ import annotations

from prefect import flow

from flows import _ops
from flows._runtime import LoadedCampaign, current_run_id, guarded_warehouse
from flows.intake import intake_share
from flows.marts import rebuild_marts
from flows.process import process_techniques
from tasks import pipeline


@flow(name="backfill", log_prints=True, timeout_seconds=24 * 3600)
def backfill_flow(config: str, techniques: list[str] | None = None, chunk: int = 64, build_marts: bool = True) -> dict:
    loaded = LoadedCampaign.load(config)
    campaign = loaded.campaign
    wh = guarded_warehouse(campaign)
    run_id = current_run_id()
    before = wh.manifest()
    pipeline.register_campaign(campaign, wh, run_id)
    shares = [s.name for s in campaign.shares if not techniques or s.technique in techniques]
    intake = [(name, intake_share.submit(loaded, name).result()) for name in shares]
    summary = process_techniques(loaded, wh, run_id, techniques, chunk, force_finalize=True)
    if build_marts:
        rebuild_marts(loaded, force=True)
    _ops.publish_run_report(_ops.run_report(wh, run_id, before, intake), "backfill")
    return {"intake": dict(intake), **summary.__dict__}
