"""Prefect runtime glue shared by the flows: task runner choice and the warehouse write limit."""
from __future__ import annotations

from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run

from foundation.campaign import Campaign
from tasks.pipeline import open_warehouse
from warehouse.store import Warehouse

#: global concurrency limit (created by `socscope server up`) that serialises warehouse commits
WRITE_LIMIT = "socscope-warehouse-write"


def current_run_id() -> str:
    return str(flow_run.get_id() or "local")


def guarded_warehouse(campaign: Campaign) -> Warehouse:
    wh = open_warehouse(campaign)
    # On an object store this limit is the only lock between machines (no flock there), so a missing
    # limit is an error rather than a silent free-for-all. The slot is a lease renewed by its holder:
    # a committer that is killed frees it within a minute instead of the default five.
    wh.commit_guard = lambda: concurrency(WRITE_LIMIT, occupy=1, strict=not wh.is_local, lease_duration=60)
    return wh


def task_runner(campaign: Campaign):
    """Threads by default; a Dask cluster (existing address or a local one) when the config says so."""
    if campaign.execution.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if campaign.execution.dask_address:
            return DaskTaskRunner(address=campaign.execution.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": campaign.execution.max_workers,
                                              "threads_per_worker": 1, "processes": True})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=campaign.execution.max_workers)
