"""The operator's flows: retry quarantined files now, ignore or unignore a file (a person's decision).

`socscope retry|ignore|unignore` run these against the Prefect API (deployments `retry`, `ignore`,
`unignore` in deployments/prefect.yaml); a forced reprocess of done files is flows/reprocess.py.
"""
from __future__ import annotations

from prefect import flow

from flows import _ops
from flows._runtime import (
    CampaignArg,
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
    task_runner,
)
from flows.process import file_tasks, finalize, progress_artifact
from foundation.registry import ordered_techniques
from tasks import operations, pipeline


@flow(name="retry", log_prints=True, timeout_seconds=6 * 3600)
def retry_flow(config: CampaignArg, techniques: list[str] | None = None, samples: list[str] | None = None,
               files: list[str] | None = None, chunk: int = 32) -> dict:
    """Attempt again, now, every quarantined file (their latest attempt failed), whatever the ledger
    says; optionally only of ``techniques``, of samples matching ``samples`` globs, or the ``files``
    named (sha256 prefixes, or globs on share paths and names)."""
    loaded = LoadedCampaign.load(config)
    campaign = loaded.campaign
    wh = guarded_warehouse(campaign)
    run_id = current_run_id()
    before = wh.manifest()
    summary = pipeline.ProcessSummary()
    with task_runner(campaign) as runner:
        for name in ordered_techniques(techniques):
            todo = _ops.select_work(campaign, wh, name, samples, force=True, files=files, quarantined_only=True)
            print(f"retry {name}: {len(todo)} quarantined files")
            run_files = file_tasks(loaded, wh, run_id, runner, refresh=True)
            pipeline.process_items(wh, name, todo, run_id, run_files, summary, progress_artifact(name, todo), chunk)
            if todo:
                summary.finalize_rows[name] = finalize(loaded, name, run_id)
    _ops.publish_run_report(_ops.run_report(wh, run_id, before), "retry")
    return summary.__dict__


@flow(name="decide", log_prints=True, timeout_seconds=600)
def decide_flow(config: CampaignArg, file: str, action: str, why: str, who: str | None = None) -> list[str]:
    """Record a person's ``ignore`` or ``unignore`` of ``file`` (who defaults to the flow's account)."""
    campaign = LoadedCampaign.load(config).campaign
    targets = operations.decide(campaign, guarded_warehouse(campaign), file, action, why, who, current_run_id())
    names = [f"{t.share}:{t.path}" if t.share else t.key for t in targets]
    print(f"{action}d {len(names)} file(s): {', '.join(names)} — {why}")
    return names
