"""Process flow: each new raw file goes to its technique, one Prefect task per file."""
from __future__ import annotations

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from flows._ops import ProgressReporter
from flows._runtime import current_run_id, guarded_warehouse, task_runner
from foundation.campaign import Campaign
from foundation.config import load_campaign
from foundation.ledger import AttemptKey
from foundation.registry import ordered_techniques
from tasks import pipeline


def file_cache_key(context: TaskRunContext, parameters: dict) -> str:
    """The file's attempt key (foundation.ledger): unchanged inputs are not recomputed, and a file
    stopped by a limit is tried again when the limit changes. The warehouse URL keeps warehouses apart."""
    item = parameters["item"]
    return AttemptKey.of(parameters["campaign"], item.technique, item.raw_sha256).cache_key(parameters["wh_url"])


@task(cache_key_fn=file_cache_key, persist_result=True, task_run_name="{item.technique}-{item.original_name}")
def process_file_task(item: pipeline.WorkItem, campaign: Campaign, wh_url: str, flow_run_id: str) -> pipeline.FileResult:
    return pipeline.process_file(item, campaign, wh_url, flow_run_id)


@task(cache_policy=NO_CACHE)
def finalize_task(config: str, technique_name: str, flow_run_id: str) -> int:
    campaign = load_campaign(config)
    return pipeline.finalize_technique(campaign, guarded_warehouse(campaign), technique_name, flow_run_id)


def process_items(campaign: Campaign, wh, name: str, todo: list[pipeline.WorkItem], run_id: str, chunk: int,
                  summary: pipeline.ProcessSummary, refresh: bool = False) -> None:
    """pipeline.process_items with one Prefect task per file; ``refresh`` ignores the task cache."""
    runner = process_file_task.with_options(refresh_cache=True) if refresh else process_file_task

    def run_files(part: list[pipeline.WorkItem]) -> list[pipeline.FileResult]:
        return runner.map(part, campaign=unmapped(campaign), wh_url=unmapped(wh.url),
                          flow_run_id=unmapped(run_id)).result()

    progress = ProgressReporter(f"{name}: {len(todo)} files") if todo else pipeline.no_progress
    pipeline.process_items(wh, name, todo, run_id, run_files, summary, progress, chunk)


def _process(config: str, techniques: list[str] | None, chunk: int) -> dict:
    campaign = load_campaign(config)
    wh = guarded_warehouse(campaign)
    run_id = current_run_id()
    summary = pipeline.ProcessSummary()
    for name in ordered_techniques(techniques):
        process_items(campaign, wh, name, pipeline.pending_work(campaign, wh, name), run_id, chunk, summary)
        summary.finalize_rows[name] = finalize_task(config, name, run_id)
    return summary.__dict__


@flow(name="process", log_prints=True)
def process_flow(config: str, techniques: list[str] | None = None, chunk: int = 32) -> dict:
    campaign = load_campaign(config)
    runner_flow = _process_flow.with_options(task_runner=task_runner(campaign))
    return runner_flow(config, techniques, chunk)


@flow(name="process-files")
def _process_flow(config: str, techniques: list[str] | None, chunk: int) -> dict:
    result = _process(config, techniques, chunk)
    print(f"processed {result['processed']} files, {len(result['quarantined'])} quarantined, "
          f"{result['rows']} rows")
    return result
