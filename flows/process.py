"""Process flow: each new raw file goes to its technique, one Prefect task per file."""
from __future__ import annotations

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from flows._ops import ProgressReporter
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
    task_runner,
)
from tasks import pipeline
from warehouse.store import Warehouse


def file_cache_key(context: TaskRunContext, parameters: dict) -> str:
    """The file's attempt key (foundation.ledger): unchanged inputs are not recomputed, and a file
    stopped by a limit is tried again when the limit changes. The warehouse URL keeps warehouses apart."""
    return parameters["item"].key(parameters["loaded"].campaign).cache_key(parameters["wh_url"])


@task(cache_key_fn=file_cache_key, persist_result=True, task_run_name="{item.technique}-{item.original_name}")
def process_file_task(item: pipeline.WorkItem, loaded: LoadedCampaign, wh_url: str,
                      flow_run_id: str) -> pipeline.FileResult:
    return pipeline.process_file(item, loaded.campaign, wh_url, flow_run_id)


@task(cache_policy=NO_CACHE)
def finalize_task(loaded: LoadedCampaign, technique_name: str, flow_run_id: str, force: bool = False) -> int:
    campaign = loaded.campaign
    return pipeline.finalize_technique(campaign, guarded_warehouse(campaign), technique_name, flow_run_id, force=force)


def file_tasks(loaded: LoadedCampaign, wh: Warehouse, run_id: str, refresh: bool = False) -> pipeline.RunFiles:
    """How a flow runs a chunk of files: one Prefect task per file; ``refresh`` ignores the task cache."""
    runner = process_file_task.with_options(refresh_cache=True) if refresh else process_file_task

    def run_files(part: list[pipeline.WorkItem]) -> list[pipeline.FileResult]:
        return runner.map(part, loaded=unmapped(loaded), wh_url=unmapped(wh.url), flow_run_id=unmapped(run_id)).result()

    return run_files


def progress_artifact(name: str, todo: list[pipeline.WorkItem]) -> pipeline.Progress:
    return ProgressReporter(f"{name}: {len(todo)} files") if todo else pipeline.no_progress


def process_techniques(loaded: LoadedCampaign, wh: Warehouse, run_id: str, techniques: list[str] | None, chunk: int,
                       force_finalize: bool = False) -> pipeline.ProcessSummary:
    """pipeline.process_techniques with a Prefect task per file and per finalize (forced for a backfill)."""
    return pipeline.process_techniques(
        loaded.campaign, wh, run_id, techniques, run_files=file_tasks(loaded, wh, run_id),
        finalize=lambda name: finalize_task(loaded, name, run_id, force=force_finalize),
        progress_for=progress_artifact, chunk=chunk)


@flow(name="process", log_prints=True)
def process_flow(config: CampaignArg, techniques: list[str] | None = None, chunk: int = 32) -> dict:
    loaded = LoadedCampaign.load(config)
    runner_flow = _process_flow.with_options(task_runner=task_runner(loaded.campaign))
    return runner_flow(loaded, techniques, chunk)


@flow(name="process-files")
def _process_flow(loaded: LoadedCampaign, techniques: list[str] | None, chunk: int) -> dict:
    summary = process_techniques(loaded, guarded_warehouse(loaded.campaign), current_run_id(), techniques, chunk)
    print(f"processed {summary.processed} files, {len(summary.quarantined)} quarantined, {summary.rows} rows")
    return summary.__dict__
