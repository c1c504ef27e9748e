"""On-demand reprocess: one technique, optionally another parameter-set version, optionally some samples.

Results of several parameter-set versions coexist in the warehouse (``params_id`` on every row);
``current_*`` views keep showing the version the campaign config names. A reprocess with another
version therefore adds rows beside the current ones (recorded as an inactive parameter set) and
leaves the cross-file step alone; make a version current by naming it in the config.
"""
from __future__ import annotations

from prefect import flow

from flows import _ops
from flows._runtime import (
    LoadedCampaign,
    current_run_id,
    guarded_warehouse,
    task_runner,
)
from flows.process import file_tasks, finalize, progress_artifact
from foundation.registry import params_for
from tasks import pipeline


@flow(name="reprocess", log_prints=True, timeout_seconds=6 * 3600)
def reprocess_flow(config: str, technique: str, params: str | None = None, samples: list[str] | None = None,
                   force: bool = False, chunk: int = 32, files: list[str] | None = None) -> dict:
    """Recompute ``technique`` for files not yet done with ``params`` (all of them with ``force``).

    params: a parameter-set file, relative to the config (default: the one the config names).
    samples: glob patterns on sample ids, e.g. ["C-CH*"] (default: every file, references included).
    files: sha256 prefixes or globs on share paths and names (default: every file).
    """
    base = LoadedCampaign.load(config)
    loaded = LoadedCampaign.of(_ops.with_params(base.campaign, technique, params), config)
    # the parameter set is the one the config names: then the cross-file step follows
    is_current = params_for(loaded.campaign, technique).id == params_for(base.campaign, technique).id
    campaign = loaded.campaign
    wh = guarded_warehouse(campaign)
    run_id = current_run_id()
    before = wh.manifest()
    params_id = _ops.record_param_set(campaign, wh, technique, is_current, run_id)
    todo = _ops.select_work(campaign, wh, technique, samples, force, files)
    print(f"reprocess {technique} with {params_id}: {len(todo)} files"
          + (f" of samples {samples}" if samples else "") + (" (forced)" if force else ""))
    summary = pipeline.ProcessSummary()
    with task_runner(campaign) as runner:
        run_files = file_tasks(loaded, wh, run_id, runner, refresh=force)
        progress = progress_artifact(technique, todo)
        pipeline.process_items(wh, technique, todo, run_id, run_files, summary, progress, chunk)
    if is_current and todo:
        summary.finalize_rows[technique] = finalize(loaded, technique, run_id)
    _ops.publish_run_report(_ops.run_report(wh, run_id, before), "reprocess")
    return {"params_id": params_id, **summary.__dict__}
