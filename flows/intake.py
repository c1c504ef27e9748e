"""Intake flow: files are hashed and copied once into the raw store; a task per share (watchers, backfill)
or one task for every share of a campaign run (one commit, as `socscope run --local`)."""
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
SHARE_RETRIES = dict(retries=3, retry_delay_seconds=[5, 30, 120], retry_jitter_factor=0.5, cache_policy=NO_CACHE)


def _intake(loaded: LoadedCampaign, shares: list[str], label: str) -> dict:
    campaign = loaded.campaign
    summary = pipeline.intake(campaign, guarded_warehouse(campaign), current_run_id(), shares=shares,
                              progress=ProgressReporter(label))
    return summary.__dict__


@task(**SHARE_RETRIES, task_run_name="intake-{share}")
def intake_share(loaded: LoadedCampaign, share: str) -> dict:
    return _intake(loaded, [share], f"share {share}")


@task(**SHARE_RETRIES, task_run_name="intake")
def intake_shares(loaded: LoadedCampaign, shares: list[str]) -> dict:
    """Every share named in one pass and one commit (a commit rebuilds the catalog: one per share cost
    that many rebuilds); a failing share retries them all. When the caller took the files already
    (while an embedded API started), only their rows are committed, under this run."""
    prepared = loaded.take_prepared_intake(shares)
    if prepared is not None:
        return prepared.commit(guarded_warehouse(loaded.campaign), current_run_id()).__dict__
    return _intake(loaded, shares, "shares")


def say_intake(name: str, r: dict) -> None:
    print(f"{name}: {r['seen']} complete files, {r['new_files']} new, {len(r['pending'])} still being "
          f"written, {len(r['refused'])} refused, {len(r['unmapped'])} without a sample")


@flow(name="intake", log_prints=True, timeout_seconds=4 * 3600)
def intake_flow(config: CampaignArg, shares: list[str] | None = None) -> list[dict]:
    loaded = LoadedCampaign.load(config)
    names = [s.name for s in loaded.campaign.shares if not shares or s.name in shares]
    futures = [intake_share.submit(loaded, name) for name in names]
    results = [f.result() for f in futures]
    for name, r in zip(names, results):
        say_intake(f"share {name}", r)
    return results
