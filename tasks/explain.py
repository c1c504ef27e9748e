"""`socscope explain FILE`: a dry run on one file that says what a run would do with it, and why.

Which share and pattern took it (or the ignore pattern, the exclusion or the person's decision that
keeps it out), which sample or cell its path maps to, which reader detection picks and why, and what
it would write (tables, row counts, the contract check) or why it would be refused. Nothing is
written: the file is read where it lies (or from the raw store), the warehouse only queried.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.campaign import Campaign, Share
from foundation.contract import safe_reason
from schemas.core import conform
from tasks import intake as I
from tasks import operations, pipeline
from warehouse.store import Warehouse


@dataclass
class Explanation:
    file: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (question, answer in words)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows it would write
    outcome: str = "unknown"  # would write | would refuse | ignored | not taken

    def add(self, question: str, answer: str) -> None:
        self.steps.append((question, answer))


def _share_step(share: Share, rel: str, out: Explanation) -> bool:
    """Say which of the share's patterns takes ``rel``; False when it is not taken."""
    pattern = next((p for p in share.patterns if I._matches(rel, [p])), None)
    if pattern is None:
        out.add("share", f"{share.name!r}: {rel!r} matches none of its patterns {share.patterns}: not taken")
        return False
    excluded = next((p for p in share.exclude if I._matches(rel, [p])), None)
    if excluded:
        out.add("share", f"{share.name!r}: pattern {pattern!r} matches, but exclude {excluded!r} leaves it out")
        return False
    ignored = I.ignored_by(share, rel)
    if ignored:
        out.add("share", f"{share.name!r}: ignored — the name matches {ignored!r} of the share's ignore list "
                         f"(not instrument data; `drop_default_ignores` or `ignore` in the share config change it)")
        out.outcome = "ignored"
        return False
    out.add("share", f"{share.name!r} ({share.technique}): taken by pattern {pattern!r}")
    return True


def _mapping_step(campaign: Campaign, share: Share, rel: str, full: str, out: Explanation) -> tuple[Any, Any, bool]:
    sample_id, cell_id, err = I.map_sample(I.Candidate(share.name, rel, full, 0, 0.0), share, campaign)
    if err:
        out.add("sample", f"none — {err} (a run quarantines it at intake)")
        return None, None, False
    how = "a reference/standard (no sample)" if sample_id is None and cell_id is None else (
        f"sample {sample_id!r}" + (f", cell {cell_id!r}" if cell_id else "") if sample_id else f"cell {cell_id!r}")
    out.add("sample", f"{how}, by the share's mapping ({share.mapping.path_pattern or 'sidecar ' + str(share.mapping.sidecar)})")
    return sample_id, cell_id, True


def explain(campaign: Campaign, wh: Warehouse, spec: str) -> Explanation:
    """Explain what a run would do with the file ``spec`` names (tasks.operations: sha, SHARE:PATH, path, glob)."""
    out = Explanation(spec)
    target = operations.resolve(campaign, wh, spec)[0]
    share = next((s for s in campaign.shares if s.name == target.share), None)
    if share is None or target.path is None:
        out.add("share", "on no share now (known only from the raw store)")
        rel, full = None, None
    else:
        rel = target.path
        full = str(Path(campaign.resolve(share.url)) / rel)
        if not _share_step(share, rel, out):
            out.outcome = out.outcome if out.outcome == "ignored" else "not taken"
            return out
    decided = wh.query("select who, why, since from ignored where how = 'person' and target = ?", [target.key])
    if len(decided):
        d = decided.iloc[0]
        out.add("decision", f"ignored by {d.who} since {d.since}: {d.why} (`socscope unignore` undoes it)")
        out.outcome = "ignored"
        return out
    sample_id, cell_id = target.sample_id, None
    if share is not None and rel is not None:
        sample_id, cell_id, mapped = _mapping_step(campaign, share, rel, full, out)
        if not mapped:
            out.outcome = "would refuse"
            return out
    path = Path(full) if full and Path(full).exists() else None
    if path is None:
        stored = wh.query("select store_path, original_name from raw_files where raw_sha256 = ?", [target.raw_sha256])
        path = Path(stored.store_path.iloc[0]) if len(stored) else None
    if path is None or not path.exists():
        out.add("file", "not readable here: neither on the share nor in the raw store")
        out.outcome = "would refuse"
        return out
    sha = target.raw_sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    item = pipeline.WorkItem(raw_sha256=sha, technique=share.technique if share else target.technique,
                             sample_id=sample_id, cell_id=cell_id, original_name=Path(rel or path.name).name,
                             store_path=str(path), share=share.name if share else None, rel_path=rel)
    _ledger_step(campaign, wh, item, out)
    _process_step(campaign, wh, item, path, out)
    return out


def _ledger_step(campaign: Campaign, wh: Warehouse, item: pipeline.WorkItem, out: Explanation) -> None:
    last = wh.query("select status, reason, params_id, attempted_at from ingest_events where stage = 'process' "
                    "and raw_sha256 = ? order by attempted_at desc limit 1", [item.raw_sha256])
    pending = any(w.raw_sha256 == item.raw_sha256 for w in pipeline.pending_work(campaign, wh, item.technique))
    if not len(last):
        out.add("ledger", "never attempted: the next run processes it")
        return
    r = last.iloc[0]
    then = f"last attempt {r.attempted_at:%Y-%m-%d %H:%M} UTC: {r.status}" + (f" ({r.reason})" if r.reason else "")
    out.add("ledger", then + ("; its parameter set, code or settings changed since: the next run tries it again"
                              if pending else "; nothing it depends on changed: the next run leaves it "
                              "(`socscope retry` or `socscope reprocess --force` to try it now)"))


def _process_step(campaign: Campaign, wh: Warehouse, item: pipeline.WorkItem, path: Path, out: Explanation) -> None:
    why: list[str] = []
    try:
        computed = pipeline.compute_file(item, path, campaign, wh, None, why)
    except Exception as exc:  # noqa: BLE001 - the refusal is the answer
        picked = f"{why[-1]}; it " if why else ""
        out.add("reader", safe_reason(f"{picked}refused the file: {exc}"))
        out.outcome = "would refuse"
        return
    out.add("reader", f"{computed.reader.id}: {computed.why}")
    for table, df in sorted(computed.frames.items()):
        try:
            conform(computed.specs[table], df)
        except Exception as exc:  # noqa: BLE001 - a contract failure quarantines the file
            out.add("contract", safe_reason(f"{table}: {exc}"))
            out.outcome = "would refuse"
            return
        out.tables[table] = len(df)
    out.add("writes", ", ".join(f"{t}: {n} rows" for t, n in out.tables.items()) or "no rows")
    out.outcome = "would write"
