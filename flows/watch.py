"""Intake watcher: one deployment per share, every few minutes; takes new files in and processes them.

Late-run policy: a watcher run that starts more than ``max_late_minutes`` after its scheduled time
(worker down, server busy) is skipped with a Completed "Skipped" state — the next run, minutes later,
sees the same files. Overlapping watcher runs are refused by the deployment's concurrency limit.
"""
from __future__ import annotations

from prefect import flow
from prefect.states import Completed

from flows import _ops
from flows._runtime import LoadedCampaign, current_run_id, guarded_warehouse
from flows.intake import intake_share
from flows.process import process_flow


@flow(name="watch-share", log_prints=True, timeout_seconds=3600)
def watch_share_flow(config: str, share: str, max_late_minutes: float | None = 10, process_new: bool = True):
    late = _ops.lateness_seconds(_ops.scheduled_start())
    if _ops.too_late(_ops.scheduled_start(), None if max_late_minutes is None else 60 * max_late_minutes):
        return Completed(name="Skipped", message=f"started {late:.0f} s late (> {max_late_minutes} min): the "
                                                 f"next watcher run takes these files")
    loaded = LoadedCampaign.load(config)
    campaign = loaded.campaign
    spec = next((s for s in campaign.shares if s.name == share), None)
    if spec is None:
        raise ValueError(f"share {share!r} is not in {config}; shares: {[s.name for s in campaign.shares]}")
    wh = guarded_warehouse(campaign)
    before = wh.manifest()
    result = intake_share(loaded, share)
    print(f"share {share}: {result['new_files']} new of {result['seen']} complete files, "
          f"{len(result['pending'])} still being written")
    processed = process_flow(loaded, [spec.technique]) if (process_new and result["new_files"]) else None
    _ops.publish_run_report(_ops.run_report(wh, current_run_id(), before, [(share, result)], _ops.run_family(current_run_id())), "watch")
    return {"intake": result, "process": processed}
