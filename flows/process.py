"""Process flow: each technique's new raw files in batches, one Prefect task per batch (tasks/batches.py)."""
from __future__ import annotations

from typing import Iterator

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.futures import as_completed
from prefect.task_runners import TaskRunner

from flows._ops import ProgressReporter
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
    task_runner,
)
from foundation.registry import technique
from tasks import batches, pipeline
from warehouse.store import Warehouse


def batch_cache_key(context: TaskRunContext, parameters: dict) -> str:
    """Unchanged inputs are not recomputed (tasks/batches.py batch_cache_key)."""
    return batches.batch_cache_key(parameters["items"], parameters["loaded"].campaign, parameters["wh_url"])


@task(cache_key_fn=batch_cache_key, persist_result=True, task_run_name="{technique}-batch-{index}")
def process_batch_task(items: list[pipeline.WorkItem], loaded: LoadedCampaign, wh_url: str, flow_run_id: str,
                       technique: str, index: int) -> list[pipeline.FileResult]:
    return batches.run_batch(items, loaded.campaign, wh_url, flow_run_id)


@task(cache_policy=NO_CACHE)
def finalize_task(loaded: LoadedCampaign, technique_name: str, flow_run_id: str, force: bool = False) -> int:
    campaign = loaded.campaign
    return pipeline.finalize_technique(campaign, guarded_warehouse(campaign), technique_name, flow_run_id, force=force)


def finalize(loaded: LoadedCampaign, technique_name: str, flow_run_id: str, force: bool = False) -> int:
    """A technique's cross-file step as a task; none for a technique without one (a task run costs its
    states and events, here for nothing to show)."""
    if technique(technique_name).finalize is None:
        return 0
    return finalize_task(loaded, technique_name, flow_run_id, force=force)


def file_tasks(loaded: LoadedCampaign, wh: Warehouse, run_id: str, runner: TaskRunner,
               refresh: bool = False) -> pipeline.RunFiles:
    """How a flow runs files: a Prefect task per batch (``execution.batch_size``), all submitted at once to
    ``runner`` (the campaign's task runner, entered by the flow: ``task_runner``), results as batches
    finish; ``refresh`` ignores the task cache."""
    batch_task = process_batch_task.with_options(refresh_cache=True) if refresh else process_batch_task
    execution = loaded.campaign.execution

    def run_files(part: list[pipeline.WorkItem]) -> Iterator[list[pipeline.FileResult]]:
        futures = [runner.submit(batch_task, {"items": items, "loaded": loaded, "wh_url": wh.url, "flow_run_id": run_id,
                                              "technique": items[0].technique, "index": i})
                   for i, items in enumerate(batches.split(part, execution.batch_size, execution.max_workers))]
        for future in as_completed(futures):
            yield future.result()

    return run_files


def progress_artifact(name: str, todo: list[pipeline.WorkItem]) -> pipeline.Progress:
    return ProgressReporter(f"{name}: {len(todo)} files") if todo else pipeline.no_progress


def process_techniques(loaded: LoadedCampaign, wh: Warehouse, run_id: str, techniques: list[str] | None,
                       commit_every: int | None = None, force_finalize: bool = False) -> pipeline.ProcessSummary:
    """pipeline.process_techniques with a Prefect task per batch and per finalize (forced for a backfill).

    The batches go to the campaign's task runner (threads, or Dask: ``execution.task_runner``), entered
    here in the calling flow run: no flow run of its own is needed to choose it (a flow run costs its
    states and the join of its heartbeat thread, up to a second, at its end)."""
    with task_runner(loaded.campaign) as runner:
        return pipeline.process_techniques(
            loaded.campaign, wh, run_id, techniques, run_files=file_tasks(loaded, wh, run_id, runner),
            finalize=lambda name: finalize(loaded, name, run_id, force=force_finalize),
            progress_for=progress_artifact, commit_every=commit_every)


@flow(name="process", log_prints=True)
def process_flow(config: CampaignArg, techniques: list[str] | None = None) -> dict:
    loaded = LoadedCampaign.load(config)
    summary = process_techniques(loaded, guarded_warehouse(loaded.campaign), current_run_id(), techniques)
    print(f"processed {summary.processed} files, {len(summary.quarantined)} quarantined, {summary.rows} rows")
    return summary.__dict__
