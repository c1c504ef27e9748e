"""Intake watcher: one deployment per share; a run watches its share for a bounded time and processes
what arrives, in one warm process.

A run lists the share every ``poll_seconds`` (a share setting) until ``watch_seconds`` after its
scheduled start, and runs intake and processing only on a poll that finds a complete file it has not
handled yet: a new file is committed within seconds, without the start of a new flow-run process
(Python, Prefect, pandas and pyarrow imports cost seconds each time). The deployment schedules the
next run as this one ends; ``watch_seconds`` leaves the worker's prefetch room between them, since a
second run while one still watches is cancelled (CANCEL_NEW). ``watch_seconds=0``: one pass.

Late-run policy: a watcher run that starts more than ``max_late_minutes`` after its scheduled time
(worker down, server busy) is skipped with a Completed "Skipped" state — the next run sees the same
files. A run killed mid-way loses nothing committed (every commit is a manifest swap): the next run
lists the share again and takes what was not committed.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import flow
from prefect.states import Completed

from flows import _ops
from flows._runtime import LoadedCampaign, current_run_id, guarded_warehouse
from flows.intake import intake_share
from flows.process import process_flow
from tasks import intake as I
from tasks import pipeline
from tasks.share_watch import ShareWatch, merged, watch_loop

#: the longest a run may watch: below the flow's timeout, with room for its last poll's processing
MAX_WATCH_SECONDS = 3000


def window_seconds(watch_seconds: float, scheduled: datetime | None, now: datetime | None = None) -> float:
    """How long a run still watches: ``watch_seconds`` from its scheduled start (a late run watches less,
    so that it ends before the next slot), from now for a manual run."""
    if not 0 <= watch_seconds <= MAX_WATCH_SECONDS:
        raise ValueError(f"watch_seconds {watch_seconds:g} is outside 0..{MAX_WATCH_SECONDS}; set it below the "
                         f"watcher schedule's interval in deployments/prefect.yaml")
    return max(0.0, watch_seconds - _ops.lateness_seconds(scheduled, now))


@flow(name="watch-share", log_prints=True, timeout_seconds=3600)
def watch_share_flow(config: str, share: str, max_late_minutes: float | None = 10, process_new: bool = True,
                     watch_seconds: float = 0):
    scheduled = _ops.scheduled_start()
    late = _ops.lateness_seconds(scheduled)
    if _ops.too_late(scheduled, None if max_late_minutes is None else 60 * max_late_minutes):
        return Completed(name="Skipped", message=f"started {late:.0f} s late (> {max_late_minutes} min): the "
                                                 f"next watcher run takes these files")
    seconds = window_seconds(watch_seconds, scheduled)
    loaded = LoadedCampaign.load(config)
    campaign = loaded.campaign
    spec = next((s for s in campaign.shares if s.name == share), None)
    if spec is None:
        raise ValueError(f"share {share!r} is not in {config}; shares: {[s.name for s in campaign.shares]}")
    wh = guarded_warehouse(campaign)
    before = wh.manifest()
    watch = ShareWatch.start(spec, campaign, wh)
    if process_new and seconds > 0:
        pipeline.warm_file_workers(campaign)
    intakes: list[dict] = []
    processed: list[dict] = []

    def poll(first: bool) -> None:
        new, pending = watch.look()
        if not (first or new):  # nothing new: no task run, no warehouse query
            return
        accepted = time.time()
        result = intake_share(loaded, share)
        watch.took(new, result["pending"])
        intakes.append(result)
        for cand in filter(watch.known, new):
            print(f"took {share}:{I.shown(cand.rel_path)} seen_at={watch.first_seen[cand.rel_path]:.3f} "
                  f"accepted_at={accepted:.3f}")
        if result["new_files"] or len(pending):
            print(f"share {share}: {result['new_files']} new of {result['seen']} complete files, "
                  f"{len(result['pending'])} still being written")
        if process_new and result["new_files"]:
            processed.append(process_flow(loaded, [spec.technique]))
        if first:
            print(f"watching share {share}: a listing every {spec.poll_seconds:g} s for {seconds:.0f} s")

    polls = watch_loop(poll, seconds, spec.poll_seconds)
    print(f"share {share}: {polls} listings in {seconds:.0f} s, {len(intakes)} intakes, {len(processed)} processed")
    result = merged(intakes)
    _ops.publish_run_report(_ops.run_report(wh, current_run_id(), before, [(share, result)], _ops.run_family(current_run_id())), "watch")
    return {"intake": result, "process": processed, "polls": polls,
            "finished_at": datetime.now(timezone.utc).isoformat()}
