"""Intake flow: one task per share; files are hashed and copied once into the raw store."""
from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows._ops import ProgressReporter
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
)
from tasks import pipeline


# Share I/O (SMB/SFTP mounts, object stores) fails transiently: retry with growing delays and jitter.
@task(retries=3, retry_delay_seconds=[5, 30, 120], retry_jitter_factor=0.5, cache_policy=NO_CACHE,
      task_run_name="intake-{share}")
def intake_share(loaded: LoadedCampaign, share: str) -> dict:
    campaign = loaded.campaign
    summary = pipeline.intake(campaign, guarded_warehouse(campaign), current_run_id(), shares=[share],
                              progress=ProgressReporter(f"share {share}"))
    return summary.__dict__


@flow(name="intake", log_prints=True, timeout_seconds=4 * 3600)
def intake_flow(config: CampaignArg, shares: list[str] | None = None) -> list[dict]:
    loaded = LoadedCampaign.load(config)
    names = [s.name for s in loaded.campaign.shares if not shares or s.name in shares]
    futures = [intake_share.submit(loaded, name) for name in names]
    results = [f.result() for f in futures]
    for name, r in zip(names, results):
        print(f"share {name}: {r['seen']} complete files, {r['new_files']} new, {len(r['pending'])} still being "
              f"written, {len(r['refused'])} refused, {len(r['unmapped'])} without a sample")
    return results
