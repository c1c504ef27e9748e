"""Operations glue for the flows: the late-run policy, work selection for reprocessing, run reports.

Plain functions (the Prefect parts are the two ``publish_*`` helpers at the end); tested without a server.
"""
from __future__ import annotations

import fnmatch
import json
import math
import time
from datetime import datetime, timezone
from typing import Any, Callable

from foundation.campaign import Campaign
from foundation.progress import announce
from foundation.registry import params_for
from foundation.secrecy import redact, redact_obj
from tasks import operations, pipeline
from tasks.intake import shown
from warehouse.store import Manifest, Warehouse


# ------------------------------------------------------------------------------------------ late runs
def lateness_seconds(scheduled: datetime | None, now: datetime | None = None) -> float:
    """How late a run starts against its schedule (0 for manual runs, which have no schedule to miss)."""
    if scheduled is None:
        return 0.0
    now = now or datetime.now(timezone.utc)
    if scheduled.tzinfo is None:
        scheduled = scheduled.replace(tzinfo=timezone.utc)
    return max(0.0, (now - scheduled).total_seconds())


def too_late(scheduled: datetime | None, max_late_s: float | None, now: datetime | None = None) -> bool:
    """A watcher run that starts more than ``max_late_s`` late is skipped: the next one covers its files."""
    return max_late_s is not None and max_late_s >= 0 and lateness_seconds(scheduled, now) > max_late_s


def scheduled_start() -> datetime | None:
    """The scheduled start of the current deployment run (None when not run from a deployment)."""
    from prefect.runtime import deployment, flow_run

    if not deployment.get_id():
        return None
    return flow_run.get_scheduled_start_time()


# ------------------------------------------------------------------------------------------ reprocess
def select_work(campaign: Campaign, wh: Warehouse, technique_name: str, samples: list[str] | None = None,
                force: bool = False, files: list[str] | None = None,
                quarantined_only: bool = False) -> list[pipeline.WorkItem]:
    """Raw files of a technique to (re)compute: pending ones, or all of them with ``force``.

    ``samples`` are glob patterns on sample ids ("C-*"); reference files (no sample) are kept only when
    no filter is given, since a filtered reprocess should not rewrite the shared references. ``files``:
    sha256 prefixes or globs on share paths and names; ``quarantined_only``: files whose latest attempt failed.
    """
    items = pipeline.pending_work(campaign, wh, technique_name, force=force)
    if samples:
        items = [w for w in items if w.sample_id is not None and any(fnmatch.fnmatchcase(w.sample_id, p) for p in samples)]
    if quarantined_only:
        failed = operations.quarantined_files(wh, technique_name)
        items = [w for w in items if w.raw_sha256 in failed]
    return [w for w in items if operations.matches_files(w, files)]


def with_params(campaign: Campaign, technique_name: str, params_file: str | None) -> Campaign:
    """A copy of the campaign whose technique uses another parameter-set file (relative to the config)."""
    if not params_file:
        return campaign
    other = campaign.model_copy(deep=True)
    other.base_dir = campaign.base_dir
    other.params = {**campaign.params, technique_name: params_file}
    return other


def record_param_set(campaign: Campaign, wh: Warehouse, technique_name: str, active: bool,
                     flow_run_id: str | None) -> str:
    """Add the technique's parameter set to ``param_sets`` (inactive unless the config names it)."""
    import pandas as pd

    from schemas import platform as P

    ps = params_for(campaign, technique_name)
    known = wh.query("select params_id from param_sets where params_id = ?", [ps.id])
    if len(known):
        return ps.id
    tx = wh.transaction(flow_run_id)
    tx.upsert(P.PARAM_SETS, pd.DataFrame([{
        "technique": technique_name, "params_id": ps.id, "name": ps.name, "version": ps.version,
        "values_json": json.dumps(ps.values, sort_keys=True, default=str), "active": active,
        "registered_at": pipeline.now_utc()}]))
    tx.commit()
    return ps.id


# ------------------------------------------------------------------------------------------ run reports
def rows_written(before: Manifest, after: Manifest) -> list[dict[str, Any]]:
    """Rows per table in data files the run added (files in ``after`` that ``before`` did not list)."""
    old = {e.path for es in before.tables.values() for e in es}
    out = []
    for table, entries in sorted(after.tables.items()):
        new = [e for e in entries if e.path not in old]
        if new:
            out.append({"table": table, "new_files": len(new), "rows_written": sum(e.rows for e in new),
                        "rows_now": sum(e.rows for e in entries)})
    return out


def run_report(wh: Warehouse, flow_run_id: str, before: Manifest,
               intake: list[tuple[str, dict[str, Any]]] | None = None,
               run_ids: list[str] | None = None) -> dict[str, Any]:
    """What one run did: files ingested per share, files quarantined with reasons, rows per table, checks.

    ``run_ids``: the run and its subflow runs (rows carry the id of the subflow that wrote them).
    """
    events = wh.query("select technique, stage, status, reason, error_type, original_name, rows_written "
                      "from ingest_events where list_contains(?::VARCHAR[], flow_run_id) order by technique, original_name",
                      [list(run_ids or [flow_run_id])])
    shares = [{"share": name, "complete_files": r["seen"], "new_files": r["new_files"],
               "still_being_written": len(r["pending"]), "refused": len(r["refused"]), "without_sample": len(r["unmapped"])}
              for name, r in (intake or [])]
    quarantined = events[events.status != "ok"][["technique", "stage", "original_name", "reason"]]
    quarantined = quarantined.assign(original_name=quarantined.original_name.map(lambda n: shown(n) if n else n))
    processed = events[events.stage.isin(["process", "finalize"])]
    validation = []
    for tech, grp in processed.groupby("technique", dropna=False, sort=True):
        contract = grp[grp.error_type == "ContractViolation"]
        validation.append({"technique": tech, "attempts": len(grp), "passed": int((grp.status == "ok").sum()),
                           "failed_contract": len(contract), "failed_other": int(((grp.status != "ok")).sum()) - len(contract),
                           "first_contract_failure": contract.reason.iloc[0][:300] if len(contract) else ""})
    checks = wh.query("select technique, check_name, count(*) as results, sum(passed::int) as passed "
                      "from quality group by 1, 2 order by 1, 2")
    return {"flow_run_id": flow_run_id, "shares": shares,
            "quarantined": quarantined.to_dict("records"),
            "rows_written": rows_written(before, wh.manifest()),
            "validation": validation,
            "quality_checks": [{k: (int(v) if k in ("results", "passed") else v) for k, v in r.items()}
                               for r in checks.to_dict("records")]}


def run_family(flow_run_id: str) -> list[str]:
    """The run and every subflow run under it, through the API (a run outside Prefect is just itself)."""
    if flow_run_id == "local":
        return [flow_run_id]
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    family, frontier = [flow_run_id], [flow_run_id]
    with get_client(sync_client=True) as client:
        while frontier:
            children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier)))
            frontier = [str(c.id) for c in children if str(c.id) not in family]
            family += frontier
    return family


def table_artifact(rows: Any, key: str, description: str) -> None:
    """A Prefect table artifact, with secrets masked (foundation.secrecy): artifacts are read by anyone with the UI."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(redact_obj(rows), key=key, description=redact(description))


def markdown_artifact(markdown: str, key: str, description: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(redact(markdown), key=key, description=redact(description))


def publish_run_report(report: dict[str, Any], prefix: str) -> None:
    """Table artifacts on the flow run: a summary, the quarantine, rows per table, validation results."""
    rows = report["rows_written"]
    lines = [f"### {prefix} run {report['flow_run_id']}", "",
             f"- files ingested (new): {sum(s['new_files'] for s in report['shares'])} "
             f"of {sum(s['complete_files'] for s in report['shares'])} complete files seen",
             f"- files quarantined: {len(report['quarantined'])}",
             f"- rows written: {sum(r['rows_written'] for r in rows)} in {len(rows)} tables"]
    markdown_artifact("\n".join(lines), key=f"{prefix}-summary", description="what this run did")
    if report["shares"]:
        table_artifact(report["shares"], key=f"{prefix}-intake", description="files per share")
    table_artifact(rows or [{"table": "(none)", "new_files": 0, "rows_written": 0, "rows_now": None}],
                          key=f"{prefix}-rows-written", description="rows written per table by this run")
    if report["quarantined"]:
        table_artifact(report["quarantined"], key=f"{prefix}-quarantined",
                              description="files quarantined by this run, with reasons")
    if report["validation"] or report["quality_checks"]:
        table_artifact(report["validation"] + report["quality_checks"], key=f"{prefix}-validation",
                              description="table contracts (pandera) per technique, and quality checks")


#: a progress artifact is written at most this often (and always at a stage's last step): each write is
#: a request, an event and database rows on the server, which answers on the cores the files run on
PROGRESS_EVERY_S = 2.0


class ProgressReporter:
    """A Prefect progress artifact that a long loop updates, created at the first update and then written
    at most every :data:`PROGRESS_EVERY_S` seconds, and at the last step; the same progress goes to this
    process's listeners (the CLI's bar when the flow runs in its process) at every step."""

    def __init__(self, description: str, clock: Callable[[], float] = time.monotonic):
        self.description = description
        self.id = None
        self.clock = clock
        self.written_at = -math.inf

    def __call__(self, label: str, done: int, total: int, current: str = "") -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        announce(label, done, total, current)
        if not total or (done < total and self.clock() - self.written_at < PROGRESS_EVERY_S):
            return
        self.written_at = self.clock()
        pct = 100.0 * done / total
        text = redact(f"{self.description} - {label}: {done}/{total}" + (f", last: {current}" if current else ""))
        if self.id is None:
            self.id = create_progress_artifact(pct, description=text)
        else:
            update_progress_artifact(self.id, pct, description=text)
