"""The campaign pipeline as plain functions: intake, process (per file), finalize, register.

Prefect flows in ``flows/`` call these and nothing else; tests call them without a server. Every
function that touches many files takes a ``mapper`` (a thread pool by default, Prefect's task
runner in flows) and a ``progress`` callback (a rich progress bar in the CLI).
"""
from __future__ import annotations

import contextlib
import functools
import json
import tempfile
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import pyarrow as pa

from foundation.campaign import Campaign, ResolvedLimits, Share
from foundation.config import load_campaign
from foundation.contract import (
    FinalizeContext,
    ProcessContext,
    UnreadableFile,
    safe_reason,
    table_pieces,
)
from foundation.ledger import (
    AttemptKey,
    IngestEvent,
    already_finalized,
    bounded_traceback,
    code_version,
    done_attempts,
    settings_digest,
    finalize_fingerprint,
    now_utc,
    write_events,
)
from foundation.progress import Progress, no_progress
from foundation.registry import (
    ordered_techniques,
    params_for,
    read_measurements,
    reader_override,
    technique,
)
from schemas import platform as P
from tasks import intake as I
from tasks import isolation, side_by_side
from warehouse.faults import (
    DISK_ERRNOS,
    as_storage_error,
    fault_point,
    is_storage_error,
    storage_error_in,
)
from warehouse.store import FileEntry, Manifest, Warehouse, unit_key, write_unit

#: the reason of an empty file (intake and process)
EMPTY_REASON = ("the file is empty (0 bytes): nothing to read; if it is still being written, it will be tried "
                "again when it changes")


Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def thread_mapper(max_workers: int = 2) -> Mapper:
    def run(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            return list(pool.map(fn, items))
    return run


def open_warehouse(campaign: Campaign) -> Warehouse:
    return Warehouse(campaign.resolve(campaign.storage.warehouse), campaign.storage.storage_options)


_WORKER_WAREHOUSES: dict[tuple[str, str], Warehouse] = {}
_WORKER_WAREHOUSES_LOCK = threading.Lock()


def worker_warehouse(url: str, storage_options: dict[str, Any] | None) -> Warehouse:
    """The warehouse at ``url`` as this process's file workers share it.

    Its query connection keeps the catalog views of the current manifest version from one file to
    the next: a fresh ``Warehouse`` per file builds them again for the plugins' lookups (calibrations,
    reference spectra, earlier cycles), ~80 ms on the demo warehouse — several times an SXPD
    pattern's whole read and features. A new manifest version still rebuilds them (``query``).
    """
    key = (url, json.dumps(storage_options or {}, sort_keys=True, default=str))
    with _WORKER_WAREHOUSES_LOCK:
        wh = _WORKER_WAREHOUSES.get(key)
        if wh is None:
            wh = _WORKER_WAREHOUSES[key] = Warehouse(url, storage_options)
        return wh


def raw_store_url(campaign: Campaign) -> str:
    return campaign.resolve(campaign.storage.raw_store)


# ------------------------------------------------------------------------------------------ campaign
def register_campaign(campaign: Campaign, wh: Warehouse, flow_run_id: str | None = None) -> Manifest:
    """Write the config's samples and cells, and the active parameter set of each technique."""
    tx = wh.transaction(flow_run_id)
    for spec, rows in campaign_rows(campaign, wh.rows(REGISTERED_SQL["param_sets"])):
        tx.upsert(spec, pd.DataFrame(rows), keep="new")
    return tx.commit()


def campaign_rows(campaign: Campaign, param_sets: list[Any]) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The rows ``register_campaign`` upserts, per table (its spec): the config's samples and cells, and every
    technique's active parameter set with the other versions in ``param_sets`` (stored rows) made inactive."""
    out: list[tuple[Any, list[dict[str, Any]]]] = [(P.SAMPLE_CONFIG, [{
        "campaign": campaign.name, "sample_id": s.id, "series": s.series, "branch": s.branch,
        "soc_nominal_pct": s.soc_nominal_pct, "cell_id": s.cell, "description": s.description}
        for s in campaign.samples])]
    if campaign.cells:
        out.append((P.CELLS, [{
            "campaign": campaign.name, "cell_id": c.id, "kind": c.kind, "active_mass_mg": c.active_mass_mg,
            "nominal_capacity_mah_g": c.nominal_capacity_mah_g, "lower_cutoff_v": c.lower_cutoff_v,
            "upper_cutoff_v": c.upper_cutoff_v, "electrode_area_cm2": c.electrode_area_cm2}
            for c in campaign.cells]))
    registered = {(r.technique, r.params_id): r.registered_at for r in param_sets}
    rows = []
    for name in ordered_techniques():
        ps = params_for(campaign, name)
        rows.append({"technique": name, "params_id": ps.id, "name": ps.name, "version": ps.version,
                     "values_json": json.dumps(ps.values, sort_keys=True, default=str), "active": True,
                     "registered_at": registered.get((name, ps.id)) or now_utc()})
    active = {(x["technique"], x["params_id"]) for x in rows}
    for old in param_sets:  # other versions stay, inactive, so their rows keep a name
        if (old.technique, old.params_id) not in active:
            rows.append({**old._asdict(), "active": False})
    out.append((P.PARAM_SETS, rows))
    return out


#: the stored rows of each table ``register_campaign`` writes (constant SQL: no name is put into a query)
REGISTERED_SQL = {"sample_config": "select * from sample_config", "cells": "select * from cells",
                  "param_sets": "select * from param_sets"}


def campaign_registered(campaign: Campaign, wh: Warehouse) -> bool:
    """True when ``register_campaign`` would certainly commit nothing: every table it upserts holds exactly
    these rows already (same columns in the same order, equal values, no other key). Answered from rows,
    without building the frames (a no-op re-run imports no pandas); False means "not sure", and
    registering decides (its frame comparison also forgives float noise below 1e-5)."""
    from warehouse.catalog import catalog_is_current
    from warehouse.declared import missing_view

    try:
        param_sets = wh.rows(REGISTERED_SQL["param_sets"])
        for spec, rows in campaign_rows(campaign, param_sets):
            old = param_sets if spec is P.PARAM_SETS else wh.rows(REGISTERED_SQL[spec.name])
            if not _holds_exactly(spec, old, rows):
                return False
    except Exception as exc:
        if missing_view(exc):  # a table not there yet: registering decides
            return False
        raise
    return catalog_is_current(wh, wh.manifest())  # else registering rebuilds the catalog (its views changed)


def _holds_exactly(spec: Any, old: list[Any], rows: list[dict[str, Any]]) -> bool:
    """Upserting ``rows`` (keep='new') into the stored rows ``old`` changes none: each is stored as it is
    (stored rows of keys no longer in the config stay, as the merge keeps them)."""
    if not old:
        return False
    by_key = {tuple(getattr(r, k) for k in spec.key): r._asdict() for r in old}
    if len(by_key) != len(old):
        return False
    for row in rows:
        was = by_key.get(tuple(row[k] for k in spec.key))
        if was is None or list(was) != list(row) or any(_differs(row[c], was[c]) for c in row):
            return False
    return True


def _differs(new: Any, stored: Any) -> bool:
    return not (new is None and stored is None) and (new is None or stored is None or new != stored)


# ------------------------------------------------------------------------------------------ intake
@dataclass
class IntakeSummary:
    seen: int = 0
    new_files: int = 0
    pending: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def intake(campaign: Campaign, wh: Warehouse, flow_run_id: str | None = None, shares: list[str] | None = None,
           progress: Progress = no_progress, mapper: Mapper | None = None) -> IntakeSummary:
    """Take every complete file of every share into the raw store; record files, sightings, refusals.

    Only what changed is written: new raw files, new or replaced sightings (a file replaced under
    the same name is a new version; the old sighting gets ``superseded_at``), new or changed
    refusals, and an 'ok' event for a path refused before that is taken now.
    """
    return prepare_intake(campaign, wh, shares, progress, mapper).commit(wh, flow_run_id)


@dataclass
class PreparedIntake:
    """An intake done up to its commit: the files are in the raw store, the rows ready; :meth:`commit`
    writes them under a flow run. Apart so that a run can take its files while the Prefect API that
    gives it its run id starts (socscope/cli.py)."""

    campaign: Campaign
    shares: list[str] | None
    summary: IntakeSummary
    raw_rows: list[dict[str, Any]]
    sight_rows: list[dict[str, Any]]
    events: list[IngestEvent]  # their flow_run_id is the commit's
    rehashed: dict[str, int]  # share -> files seen, for the shares hashed whole now
    stamp: datetime

    def commit(self, wh: Warehouse, flow_run_id: str | None) -> IntakeSummary:
        campaign, stamp = self.campaign, self.stamp
        tx = wh.transaction(flow_run_id)
        if self.raw_rows:
            changed = remapped(wh, pd.DataFrame(self.raw_rows))
            if len(changed):
                tx.upsert(P.RAW_FILES, changed, keep="new")
        if self.sight_rows:
            tx.upsert(P.SIGHTINGS, pd.DataFrame(self.sight_rows), keep="new")
        write_events(tx, [replace(e, flow_run_id=flow_run_id) for e in self.events])
        if self.rehashed:  # when each share was last hashed whole: the next full re-hash is due from then
            tx.upsert(P.FLOW_RUNS, pd.DataFrame([{
                "flow_run_id": f"{flow_run_id or 'local'}@{stamp.isoformat()}", "campaign": campaign.name,
                "step": f"{REHASH_STEP}{name}", "started_at": stamp, "finished_at": now_utc(), "files_seen": seen,
                "files_new": None, "files_processed": None, "files_quarantined": None, "rows_written": None,
                "detail_json": None} for name, seen in self.rehashed.items()]))
        if self.raw_rows or self.sight_rows or self.events or self.rehashed:
            fault_point("intake.rows_ready")
            tx.commit()
        return self.summary


def run_shares(campaign: Campaign, techniques: list[str] | None) -> list[str]:
    """The shares a run takes files from: those of ``techniques`` (every share when None)."""
    return [s.name for s in campaign.shares if not techniques or s.technique in techniques]


def prepare_intake(campaign: Campaign, wh: Warehouse, shares: list[str] | None = None,
                   progress: Progress = no_progress, mapper: Mapper | None = None) -> PreparedIntake:
    """:func:`intake` up to its commit (no flow run id needed yet)."""
    summary = IntakeSummary()
    known = wh.query("select s.share, s.path, s.size_bytes, s.mtime, s.raw_sha256, s.first_seen, s.superseded_at, "
                     "r.store_path from sightings s join raw_files r using (raw_sha256)")
    current = {(r.share, r.path): r for r in known.itertuples() if pd.isna(r.superseded_at)}
    known_sha = set(wh.query("select raw_sha256 from raw_files").raw_sha256)
    events = wh.query("select raw_sha256, status, reason from ingest_events where stage = 'intake'")
    past_events = {r.raw_sha256: (r.status, r.reason) for r in events.itertuples()}
    raw_rows, event_rows = [], []
    stamp = now_utc()
    work: list[tuple[Any, I.Candidate]] = []

    def path_event(share, rel: str, status: str, reason: str, error_type: str | None = None,
                   sample_id: str | None = None) -> None:
        key = I.path_key(share.name, rel)
        before = past_events.get(key)
        changed = (before is not None and before[0] != "ok") if status == "ok" else before != (status, reason)
        if changed:
            event_rows.append(IngestEvent.intake(campaign=campaign.name, raw_sha256=key, technique=share.technique,
                                                 status=status, reason=reason, error_type=error_type,
                                                 flow_run_id=None, original_name=rel, sample_id=sample_id))

    person_ignored = ignored_targets(wh)
    rehash = rehash_due(campaign, wh, stamp)

    for share in campaign.shares:
        if shares and share.name not in shares:
            continue
        try:
            complete, pending, refused = I.list_share(share, campaign)
        except FileNotFoundError as exc:  # one unreachable share must not stop the others
            summary.unreachable.append(str(exc))
            continue
        summary.pending += [f"{share.name}:{I.shown(c.rel_path)}" for c in pending]
        for r in refused:
            if r.ignored_by or I.path_key(share.name, r.rel_path) in person_ignored:
                continue  # an ignored path is listed, never refused
            summary.refused.append(f"{share.name}:{I.shown(r.rel_path)}: {r.reason}")
            path_event(share, r.rel_path, "refused", r.reason)
        for r in [r for r in refused if r.ignored_by]:
            summary.ignored.append(f"{share.name}:{I.shown(r.rel_path)}")
            path_event(share, r.rel_path, "ignored", r.reason, "IgnorePattern", I.sample_in_path(share, r.rel_path))
        pending = [c for c in pending if I.path_key(share.name, c.rel_path) not in person_ignored]
        complete = [c for c in complete if I.path_key(share.name, c.rel_path) not in person_ignored]
        for c in pending:  # a path refused earlier (symlink, size) that is fine now
            path_event(share, c.rel_path, "ok", "no longer refused")
        for c in complete:
            if c.size == 0 and not c.is_bundle:  # nothing to store or read; its sha256 would be every empty file's
                summary.refused.append(f"{share.name}:{I.shown(c.rel_path)}: {EMPTY_REASON}")
                path_event(share, c.rel_path, "refused", EMPTY_REASON, "EmptyFile")
            else:
                path_event(share, c.rel_path, "ok", "taken (refused when seen before, e.g. empty)")
                work.append((share, c))

    def take(item: tuple[Any, I.Candidate]) -> tuple[Any, I.Candidate, str | None, str, int]:
        """(share, candidate, sha256, store path, size); sha256 None and a reason instead of the store
        path when the file is to be taken later ('pending: ...') or cannot be read ('refused: ...')."""
        share, cand = item
        prev = current.get((share.name, cand.rel_path))
        if prev is not None and prev.size_bytes == cand.size and _same_time(prev.mtime, cand.mtime) \
                and not cand.is_bundle and share.name not in rehash:  # the stat cache: same path, size, mtime
            return share, cand, prev.raw_sha256, prev.store_path, cand.size
        try:
            with wh.writing(f"{share.name}:{I.shown(cand.rel_path)} into the raw store", errnos=DISK_ERRNOS):
                sha, dest, size = I.store_candidate(cand, share, campaign, raw_store_url(campaign),
                                                    campaign.storage.storage_options)
        except (I.StillWriting, FileNotFoundError) as exc:  # growing, replaced or removed since the listing
            return share, cand, None, f"pending: {exc}", 0
        except PermissionError as exc:  # one unreadable file must not stop the share
            return share, cand, None, (f"refused: {I.shown(cand.rel_path)!r} cannot be read ({exc.strerror}); give "
                                       f"the platform's account read access to it"), 0
        fault_point("intake.raw_stored")
        return share, cand, sha, dest, size

    results = []
    mapper = mapper or thread_mapper(campaign.execution.max_workers)
    batch = 64
    for i in range(0, len(work), batch):
        results += mapper(take, work[i:i + batch])
        taken_so_far = min(i + batch, len(work))
        progress("intake", taken_so_far, len(work), current=I.shown(work[taken_so_far - 1][1].rel_path))
    taken = []
    for share, cand, sha, dest, size in results:
        if sha is not None or dest.startswith("pending"):
            path_event(share, cand.rel_path, "ok", "no longer refused")
        if sha is None and dest.startswith("pending"):
            summary.pending.append(f"{share.name}:{I.shown(cand.rel_path)}")
            continue
        if sha is None:
            reason = dest.split(": ", 1)[1]
            summary.refused.append(f"{share.name}:{I.shown(cand.rel_path)}: {reason}")
            path_event(share, cand.rel_path, "refused", reason)
            continue
        summary.seen += 1
        taken.append((share.name, cand.rel_path, sha, cand.size, I.utc(cand.mtime)))
        sample_id, cell_id, err = I.map_sample(cand, share, campaign)
        if sha not in known_sha:
            summary.new_files += 1
            known_sha.add(sha)
        raw_rows.append({"raw_sha256": sha, "campaign": campaign.name, "technique": share.technique,
                         "sample_id": sample_id, "cell_id": cell_id, "original_name": Path(cand.rel_path).name,
                         "size_bytes": size, "is_bundle": cand.is_bundle, "store_path": dest, "first_seen": stamp})
        if err and sha not in person_ignored:
            summary.unmapped.append(f"{share.name}:{I.shown(cand.rel_path)}: {err}")
            if sha not in past_events:
                event_rows.append(IngestEvent.intake(campaign=campaign.name, raw_sha256=sha, technique=share.technique,
                                                     status="quarantined", reason=err, flow_run_id=None,
                                                     original_name=cand.rel_path))
        elif not err and past_events.get(sha, ("ok",))[0] != "ok":  # the mapping was fixed in the config
            event_rows.append(IngestEvent.intake(campaign=campaign.name, raw_sha256=sha, technique=share.technique,
                                                 status="ok", reason="mapped to a sample now", flow_run_id=None,
                                                 original_name=cand.rel_path))
    rehashed = {name: sum(t[0] == name for t in taken) for name in rehash if name in {t[0] for t in taken}}
    return PreparedIntake(campaign, shares, summary, raw_rows, I.sighting_changes(known, taken, campaign.name, stamp),
                          event_rows, rehashed, stamp)




#: flow_runs step of a share's full re-hash (Share.rehash_every_days)
REHASH_STEP = "rehash:"


def rehash_due(campaign: Campaign, wh: Warehouse, now: datetime) -> set[str]:
    """Shares whose every file is to be hashed again now (Share.rehash_every_days since the last full re-hash)."""
    every = {s.name: s.rehash_every_days for s in campaign.shares if s.rehash_every_days is not None}
    if not every:
        return set()
    last = wh.rows("select step, max(finished_at) as at from flow_runs where starts_with(step, $p) group by 1",
                   {"p": REHASH_STEP})
    when = {r.step[len(REHASH_STEP):]: r.at for r in last}
    # a re-hash whose end time is unknown (NULL) counts as not due, as it always did
    return {name for name, days in every.items()
            if name not in when or (when[name] is not None and now - when[name] >= timedelta(days=days))}


def remapped(wh: Warehouse, rows: pd.DataFrame) -> pd.DataFrame:
    """Raw-file rows to write: new files, and known files whose sample or cell the config now maps
    differently (keeping when they were first seen); a known file mapped as before is left alone."""
    known = wh.query("select raw_sha256, sample_id, cell_id, first_seen from raw_files")
    if not len(known):
        return rows.drop_duplicates("raw_sha256")
    merged = rows.drop_duplicates("raw_sha256").merge(known, on="raw_sha256", how="left", suffixes=("", "_was"))
    same = merged.first_seen_was.notna() & (merged.sample_id.fillna("") == merged.sample_id_was.fillna("")) & (
        merged.cell_id.fillna("") == merged.cell_id_was.fillna(""))
    merged = merged[~same]
    merged["first_seen"] = merged.first_seen_was.where(merged.first_seen_was.notna(), merged.first_seen)
    return merged[list(rows.columns)]


def ignored_targets(wh: Warehouse) -> set[str]:
    """Raw files (sha256) and share paths (path keys) a person ignored (``socscope ignore``)."""
    return {r.target for r in wh.rows("select target from ignored where how = 'person'")}


def _same_time(a: Any, b: float) -> bool:
    """Whether a recorded mtime (a datetime or pandas Timestamp; naive is UTC; NULL/NaT never) is the
    stat's ``b`` (seconds since 1970) to the millisecond."""
    if not isinstance(a, datetime):
        return False
    try:
        return abs((a if a.tzinfo else a.replace(tzinfo=UTC)).timestamp() - b) < 1e-3
    except ValueError:  # NaT (a frame's missing time) has no timestamp
        return False


# ------------------------------------------------------------------------------------------ process
@dataclass
class FileResult:
    unit: str
    entries: dict[str, list[FileEntry]]
    event: IngestEvent


@dataclass
class WorkItem:
    raw_sha256: str
    technique: str
    sample_id: str | None
    cell_id: str | None
    original_name: str
    store_path: str
    share: str | None
    rel_path: str | None
    #: the technique's ``process_first`` says other files need this one (a scan log): committed before them
    first: bool = False
    #: the raw file's size (tasks/batches.py puts the largest first and balances batches by it)
    size_bytes: int = 0
    #: the warehouse version current when the file was handed out (``process_items``): its lookups read
    #: that version (``Warehouse.lookup(at=...)``), which holds all the file's technique waits for
    manifest_key: tuple[int, str] | None = None

    def key(self, campaign: Campaign, technique_key: AttemptKey | None = None) -> AttemptKey:
        """This file's attempt key: its raw file, parameter set, code, limits and the settings it is read under
        (from ``technique_key``, its technique's key, when given: the parameter set is not loaded again)."""
        base = technique_key or AttemptKey.of(campaign, self.technique)
        return base.of_file(campaign, self.technique, self.raw_sha256, share=self.share, sample_id=self.sample_id,
                            cell_id=self.cell_id)


def accepted_files(campaign: Campaign, wh: Warehouse, technique_name: str) -> list[WorkItem]:
    """Raw files of a technique that intake accepted (mapped to a sample or reference, not ignored by a person)."""
    found = wh.rows("""
        with first_sighting as (  -- where each raw file was first seen: one pass, not two lookups per file
            select raw_sha256, first(share order by first_seen, share, path) as share,
                   first(path order by first_seen, share, path) as rel_path
            from sightings group by raw_sha256)
        select r.raw_sha256, r.technique, r.sample_id, r.cell_id, r.original_name, r.store_path,
               coalesce(r.size_bytes, 0) as size_bytes, f.share, f.rel_path
        from raw_files r left join first_sighting f on f.raw_sha256 = r.raw_sha256
        where r.technique = $technique and r.campaign = $campaign
          and r.raw_sha256 not in (select raw_sha256 from ingest_events where stage = 'intake' and status <> 'ok')
          and r.raw_sha256 not in (select target from ignored where how = 'person')
        order by r.sample_id nulls first, r.original_name, r.raw_sha256""",
                  {"technique": technique_name, "campaign": campaign.name})
    items = [WorkItem(**r._asdict()) for r in found]  # a missing sample is None (rows, not a frame: no NaN)
    first = technique(technique_name).process_first
    if first is not None:
        shares = {sh.name: dict(sh.reader_options) for sh in campaign.shares}
        for item in items:
            item.first = bool(item.rel_path) and bool(first(item.rel_path, shares.get(item.share, {})))
    return items


def pending_work(campaign: Campaign, wh: Warehouse, technique_name: str, force: bool = False) -> list[WorkItem]:
    """Accepted raw files of a technique that the run ledger does not hold as done under their attempt
    key (foundation.ledger.AttemptKey: a changed setting of their share or technique makes them pending
    again); with ``force``, every one of them."""
    items = accepted_files(campaign, wh, technique_name)
    if force:
        return items
    key = AttemptKey.of(campaign, technique_name)
    done = done_attempts(wh, key)
    return [w for w in items if (w.raw_sha256, w.key(campaign, key).settings_id) not in done]


def _local_copy(item: WorkItem, share: Share | None, campaign: Campaign) -> tuple[Path, Callable[[], None]]:
    """The raw file as a local path (a temporary copy when the store is remote) and its clean-up.

    A file the store does not own (``reference`` mode: the archive's own file; ``link``: maybe a hard
    link that shares the archive's bytes) is hashed first: a changed or vanished file is an error that
    says so, never read as if it were what intake hashed."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    in_place = share is not None and share.raw_store_mode != "copy"
    if "://" in item.store_path:  # a reference into a remote archive
        fs, path = fsspec.core.url_to_fs(item.store_path, **(share.storage_options if share else {}))
    elif in_place or Path(item.store_path).exists():
        fs, path = LocalFileSystem(), item.store_path
    else:
        fs, path = fsspec.core.url_to_fs(raw_store_url(campaign), **campaign.storage.storage_options)[0], item.store_path
    if isinstance(fs, LocalFileSystem):
        if in_place:
            _check_in_place(fs, path, item, share.raw_store_mode)
        return Path(path), lambda: None
    local = _download(fs, path, item, share)
    if in_place:  # hashed from the copy: the archive is read once
        try:
            with open(local, "rb") as fh:
                _check_same_bytes(I.sha256_of_stream(fh), path, item, share.raw_store_mode)
        except BaseException:
            local.unlink(missing_ok=True)
            raise
    return local, lambda: local.unlink(missing_ok=True)


def _download(fs: Any, path: str, item: WorkItem, share: Share | None) -> Path:
    """A remote raw file streamed into a temporary file: one GET (``cat_file`` asks the store for the
    size first, and holds the whole file in memory)."""
    with tempfile.NamedTemporaryFile(delete=False, suffix=".raw") as tmp:
        local = Path(tmp.name)
    try:
        fs.get_file(path, str(local))
    except FileNotFoundError as exc:
        local.unlink(missing_ok=True)
        if share is None or share.raw_store_mode == "copy":
            raise
        raise UnreadableFile(_vanished(_where(path, item, share.raw_store_mode))) from exc
    except BaseException:
        local.unlink(missing_ok=True)
        raise
    return local


def _where(path: str, item: WorkItem, mode: str) -> str:
    return f"{I.shown(item.original_name)!r} ({I.shown(path)}; share {item.share!r}, raw_store_mode {mode})"


def _vanished(where: str) -> str:
    return (f"{where} has vanished since intake took it: restore it, or use raw_store_mode: copy "
            f"for shares whose files move or are deleted")


def _check_in_place(fs: Any, path: str, item: WorkItem, mode: str) -> None:
    if not fs.exists(path):
        raise UnreadableFile(_vanished(_where(path, item, mode)))
    with fs.open(path, "rb") as fh:
        _check_same_bytes(I.sha256_of_stream(fh), path, item, mode)


def _check_same_bytes(sha: str, path: str, item: WorkItem, mode: str) -> None:
    if sha != item.raw_sha256:
        raise UnreadableFile(f"{_where(path, item, mode)} changed since intake hashed it (sha256 {item.raw_sha256[:12]}… → "
                             f"{sha[:12]}…); files kept in place must not change: restore the original, or write the "
                             f"new version under a new name (it is then taken as a new file)")


#: key and lineage columns only the framework writes, whatever a plugin put there
FRAMEWORK_COLUMNS = ("campaign", "technique", "params_id", "flow_run_id", "processed_at")


def stamp_frame(df: pd.DataFrame, *, campaign: str, technique_name: str, sample_id: str | None, mode: str | None,
                measurement_id: str, raw_sha256: str | None, reader: str | None, params_id: str,
                flow_run_id: str | None, processed_at: datetime) -> pd.DataFrame:
    """Add the key and lineage columns the frame does not already carry (the framework's job).

    The constant columns are built as one frame and joined once: assigning them one by one cost
    ~0.2 ms each (pandas re-infers and re-blocks at every assignment), 1.8 ms for a peaks table.
    Each is its value repeated in the dtype pandas gives ``[value] * len(df)`` (``_repeated``).
    """
    defaults = {"campaign": campaign, "sample_id": sample_id, "technique": technique_name, "mode": mode,
                "measurement_id": measurement_id, "raw_sha256": raw_sha256, "reader": reader,
                "params_id": params_id, "flow_run_id": flow_run_id, "processed_at": processed_at}
    constant = {c: v for c, v in defaults.items() if c not in df.columns or c in FRAMEWORK_COLUMNS}
    gaps = {c: df[c].fillna(v) for c, v in defaults.items()
            if c not in constant and v is not None and df[c].isna().any()}
    kept = df.drop(columns=[c for c in constant if c in df.columns])
    if gaps:
        kept = kept.assign(**gaps)
    added = pd.DataFrame({c: _repeated(v, len(df)) for c, v in constant.items()}, index=df.index)
    return pd.concat([kept, added], axis=1)


def _repeated(value: Any, n: int) -> Any:
    """``value`` n times, as the array (and dtype) pandas builds from ``[value] * n``, without the
    n Python objects that list costs: 200 ms for the ten columns of a 512x512 map's pixel table.
    Text is repeated in Arrow (pandas' own repeat of Arrow strings goes through Python objects)."""
    if n < 2:  # nothing to save, and an empty list has a dtype of its own
        return [value] * n
    one = pd.Series([value]).array
    if isinstance(one.dtype, pd.StringDtype) and one.dtype.storage == "pyarrow":
        return pd.array(pa.repeat(pa.array(one)[0], n), dtype=one.dtype)
    return one.repeat(n)


#: what every file's work imports, whatever its technique: validation, Parquet, lookups in DuckDB
FILE_WORK_IMPORTS = ("pandera.pandas", "pyarrow.parquet", "pyarrow.compute", "duckdb")


def worker_imports(campaign: Campaign) -> tuple[str, ...]:
    """The modules a file worker of ``campaign`` will import (tasks/forkserver.py imports them once for
    all of them): the framework's, the filesystem of each remote store and share, and what each of its
    techniques declares (``Technique.worker_imports``)."""
    from fsspec.core import split_protocol
    from fsspec.registry import known_implementations

    urls = [campaign.storage.warehouse, campaign.storage.raw_store, *(s.url for s in campaign.shares)]
    protocols = {split_protocol(str(url))[0] for url in urls} - {None, "file", "local"}
    stores = [known_implementations[p]["class"].rsplit(".", 1)[0] for p in sorted(protocols)
              if p in known_implementations]
    wanted = {s.technique for s in campaign.shares}
    names = [name for name in ordered_techniques() if name in wanted]
    return tuple(dict.fromkeys([*FILE_WORK_IMPORTS, *stores, *(m for n in names for m in technique(n).worker_imports)]))


def warm_file_workers(campaign: Campaign) -> threading.Thread:
    """Start the file workers' imports in the background (the fork server, or one worker), so that the
    run's first file does not wait for them. A run that finds no file spends their CPU for nothing, in
    the background: it does not wait for them to end (``ForkServer.close``)."""
    def start() -> None:
        # a worker that cannot start is reported by the first file that needs one, with its reason
        with contextlib.suppress(isolation.WorkerFailed):
            isolation.pool(campaign.execution.max_workers, process_file_here.__module__,
                           worker_imports(campaign)).warm()

    thread = threading.Thread(target=start, name="socscope-warm-file-workers", daemon=True)
    thread.start()
    return thread


def process_file(item: WorkItem, campaign: Campaign, wh_url: str, flow_run_id: str | None) -> FileResult:
    """``process_file_here`` in a worker process under the technique's time and memory limits
    (``processing:`` in the config). Never raises: a file beyond a limit is quarantined with the limit
    named, and the rest of the batch goes on."""
    limits = campaign.processing.limits_for(item.technique)
    outcome = isolation.run(process_file_here, (item, campaign, wh_url, flow_run_id), seconds=limits.seconds,
                            memory_mb=limits.memory_mb, slots=campaign.execution.max_workers,
                            imports=worker_imports(campaign))
    if outcome.failure is None:
        return outcome.value
    stop_on_storage_error(outcome)
    key = item.key(campaign)
    reason, error_type = _failure_reason(outcome, item, limits, key)
    event = IngestEvent.process(key=key, campaign=campaign.name, technique=item.technique, sample_id=item.sample_id,
                                status="quarantined", reason=reason, error_type=error_type, reader=None,
                                flow_run_id=flow_run_id, original_name=item.original_name,
                                traceback=outcome.detail or reason)
    return FileResult(unit_key(item.technique, item.raw_sha256, key.params_id), {}, event)


def stop_on_storage_error(outcome: isolation.Outcome) -> None:
    """Raise the ``StorageError`` a worker ended with: a full or read-only disk is not the file's (or
    the step's) fault, and stops the run."""
    storage = storage_error_in(outcome.detail) if outcome.failure == "error" else None
    if storage is not None:
        raise storage


def _failure_reason(outcome: isolation.Outcome, item: WorkItem, limits: ResolvedLimits,
                    key: AttemptKey) -> tuple[str, str]:
    """The quarantine reason and error_type of a file whose worker was stopped or failed."""
    name = safe_reason(repr(item.original_name), 200)
    then = "the file may be damaged; raise the limit if it is a large valid file"
    if outcome.failure == "time":
        return (f"reading {name} took longer than {limits.seconds:g} s (limit {limits.seconds_key}); the worker "
                f"was stopped — {then}", key.limit_error("TimeLimitExceeded"))
    if outcome.failure == "memory":
        return (f"reading {name} needed more than {limits.memory_mb} MB of memory (limit {limits.memory_key}); "
                f"the worker was stopped — {then}", key.limit_error("MemoryLimitExceeded"))
    if outcome.failure == "died":
        return (f"the worker reading {name} died ({outcome.detail}): a crash in a reader library, or memory beyond "
                f"{limits.memory_mb} MB (limit {limits.memory_key}) — the file may be damaged; report it with the "
                f"traceback digest if it is valid", key.limit_error("WorkerDied"))
    last = outcome.detail.strip().splitlines()[-1] if outcome.detail.strip() else "no message"
    return (safe_reason(f"unexpected failure around {name}: {last} — this is a bug in the platform; report it "
                        f"with the traceback digest"), "WorkerError")


@dataclass
class Computed:
    """One file read and processed, not yet written: its reader (and why), measurements and rows per table."""

    reader: Any
    why: str
    measurements: list[Any]
    frames: dict[str, pd.DataFrame]
    specs: dict[str, Any]


def compute_file(item: WorkItem, path: Path, campaign: Campaign, wh: Warehouse, flow_run_id: str | None,
                 why: list[str] | None = None) -> Computed:
    """Read ``path`` (item's raw file) and run its technique's process(); writes nothing (also `socscope explain`,
    whose ``why`` receives the reader detection's reason before the reader runs)."""
    tech = technique(item.technique)
    ps = params_for(campaign, item.technique)
    share = next((s for s in campaign.shares if s.name == item.share), None)
    options = dict(share.reader_options) if share else {}
    override = reader_override(share.readers, item.rel_path) if share and item.rel_path else None
    if path.is_file() and path.stat().st_size == 0:  # stored before intake refused empty files
        raise UnreadableFile(EMPTY_REASON)
    why = [] if why is None else why
    reader, measurements = read_measurements(
        path, item.raw_sha256, item.original_name, technique_name=item.technique, override=override,
        options=options, sample_id=item.sample_id, cell_id=item.cell_id, why=why)
    frames: dict[str, list[pd.DataFrame]] = {}
    when = now_utc()
    for m in measurements:
        if tech.accepts and m.kind not in tech.accepts:
            raise UnreadableFile(f"{item.original_name!r} is a {m.kind!r} ({reader.id}); the {item.technique} "
                                 f"pipeline takes only {list(tech.accepts)}: move it off the share or route it "
                                 f"to the right technique")
        ctx = ProcessContext(campaign=campaign, sample=campaign.sample(item.sample_id), params=ps,
                             options=options, query=functools.partial(wh.lookup, at=item.manifest_key))
        for table, df in (tech.process(m, ctx) or {}).items():
            frames.setdefault(table, []).append(stamp_frame(
                df, campaign=campaign.name, technique_name=item.technique, sample_id=item.sample_id,
                mode=m.mode, measurement_id=m.measurement_id, raw_sha256=item.raw_sha256, reader=reader.id,
                params_id=ps.id, flow_run_id=flow_run_id, processed_at=when))
    specs = {s.name: s for s in tech.tables}
    undeclared = sorted(set(frames) - set(specs))
    if undeclared:
        raise RuntimeError(f"{item.technique}.process returned table {undeclared[0]!r}, which it does not declare")
    return Computed(reader, why[-1], measurements, {t: pd.concat(dfs, ignore_index=True) for t, dfs in frames.items()},
                    specs)


def process_file_here(item: WorkItem, campaign: Campaign, wh_url: str, flow_run_id: str | None) -> FileResult:
    """Read one raw file, compute its features, write its rows, in this process (a worker's job;
    call it directly to debug a file). Failures are quarantined, except a MemoryError, which the
    worker turns into the memory limit's reason."""
    ps = params_for(campaign, item.technique)
    key = item.key(campaign)
    wh = worker_warehouse(wh_url, campaign.storage.storage_options)
    unit = unit_key(item.technique, item.raw_sha256, ps.id)
    reader_id = None
    cleanup = lambda: None  # noqa: E731 - replaced once the raw file is at hand
    try:
        share = next((s for s in campaign.shares if s.name == item.share), None)
        path, cleanup = _local_copy(item, share, campaign)
        computed = compute_file(item, path, campaign, wh, flow_run_id)
        reader_id, measurements = computed.reader.id, computed.measurements
        entries: dict[str, list[FileEntry]] = {}
        rows = 0
        for table, df in computed.frames.items():
            entries[table] = write_unit(wh, computed.specs[table], df, unit)
            rows += len(df)
        # a file read with a part left out (a cut last row) lands, but says so where people look
        warning = next((f"read with a warning: {m.meta['truncated']}" for m in measurements if m.meta.get("truncated")),
                       None)
        event = IngestEvent.process(key=key, campaign=campaign.name, technique=item.technique,
                                    sample_id=item.sample_id, status="ok", reason=warning,
                                    error_type="Truncated" if warning else None, reader=reader_id,
                                    flow_run_id=flow_run_id, original_name=item.original_name, rows_written=rows)
        return FileResult(unit, entries, event)
    except MemoryError:
        raise
    except Exception as exc:  # quarantine, keep the batch going
        if is_storage_error(exc):  # a full or read-only disk is not the file's fault: stop the run
            raise as_storage_error(exc, f"the rows of {item.original_name!r}", wh.unchanged()) from exc
        tb = traceback.format_exc()
        if isinstance(exc, (UnreadableFile, ValueError)) and not isinstance(exc, (KeyError,)):
            reason = safe_reason(str(exc))
        else:
            reason = safe_reason(f"unexpected {type(exc).__name__} while processing {item.original_name!r}: "
                                 f"{safe_reason(str(exc), 300)} — this is a bug in {reader_id or 'the reader'} or "
                                 f"the {item.technique} features; report it with the traceback digest")
        event = IngestEvent.process(key=key, campaign=campaign.name, technique=item.technique,
                                    sample_id=item.sample_id, status="quarantined", reason=reason,
                                    error_type=type(exc).__name__, reader=reader_id, flow_run_id=flow_run_id,
                                    original_name=item.original_name, traceback=tb)
        return FileResult(unit, {}, event)
    finally:
        cleanup()


def commit_results(wh: Warehouse, results: Iterable[FileResult], flow_run_id: str | None) -> Manifest | None:
    results = list(results)
    if not results:
        return None
    tx = wh.transaction(flow_run_id)
    for r in results:
        tx.adopt(r.unit, r.entries)
    write_events(tx, (r.event for r in results))
    return tx.commit()


def finalize_technique(campaign: Campaign, wh: Warehouse, technique_name: str, flow_run_id: str | None,
                       force: bool = False) -> int:
    """Run the technique's cross-file step when its inputs changed; returns rows written (0 if skipped).

    The step runs in a file worker (``finalize_in_worker``): its libraries are imported there already
    (scikit-image for the AFM pairs), a crash in one stops the worker, not the run, and the flow process
    stays light. With one worker, one process does every technique's heavy work. Its rows are
    committed here, with its event."""
    tech = technique(technique_name)
    if tech.finalize is None:
        return 0
    ps = params_for(campaign, technique_name)
    code = code_version(technique_name)
    # the cross-file step reads the technique's settings too (e.g. a configured wavelength)
    fingerprint = finalize_fingerprint(wh, [technique_name, *tech.waits_for], ps.id,
                                       code + ":" + settings_digest(campaign, technique_name))
    if not force and already_finalized(wh, fingerprint):
        return 0
    result = finalize_in_worker(campaign, wh.url, technique_name, flow_run_id)
    tx = wh.transaction(flow_run_id)
    if result.failure is None:
        tx.adopt(result.unit, result.entries)
    status, reason, err, tb = ("ok", None, None, None) if result.failure is None else ("quarantined", *result.failure)
    write_events(tx, [IngestEvent.finalize(fingerprint=fingerprint, campaign=campaign.name, technique=technique_name,
                                           params_id=ps.id, code_version=code, status=status, reason=reason,
                                           error_type=err, flow_run_id=flow_run_id, rows_written=result.rows,
                                           traceback=tb)])
    fault_point(f"finalize.{technique_name}.written")
    tx.commit()
    if status != "ok":
        raise RuntimeError(reason + "\n" + bounded_traceback(tb or ""))
    return result.rows


@dataclass
class FinalizeResult:
    """What a technique's cross-file step wrote (files of ``unit``, not yet committed), or why it failed:
    (reason, error type, traceback)."""

    unit: str
    rows: int
    entries: dict[str, list[FileEntry]]
    failure: tuple[str, str, str] | None = None


def finalize_in_worker(campaign: Campaign, wh_url: str, technique_name: str, flow_run_id: str | None) -> FinalizeResult:
    """``finalize_here`` in a file worker; a worker that dies or fails is the step's failure. No time or
    memory limit: those of ``processing:`` are a file's, and the step reads the whole campaign."""
    outcome = isolation.run(finalize_here, (campaign, wh_url, technique_name, flow_run_id), seconds=None,
                            memory_mb=None, slots=campaign.execution.max_workers, imports=worker_imports(campaign),
                            first=True)  # other techniques' steps wait for it; their files can wait a moment
    if outcome.failure is None:
        return outcome.value
    stop_on_storage_error(outcome)
    last = outcome.detail.strip().splitlines()[-1] if outcome.detail.strip() else outcome.failure
    died = outcome.failure == "died"
    reason = safe_reason(f"{technique_name} finalize {'died' if died else 'failed in its worker'}: {last}")
    return FinalizeResult("", 0, {}, (reason, "WorkerDied" if died else "WorkerError", outcome.detail))


def finalize_here(campaign: Campaign, wh_url: str, technique_name: str, flow_run_id: str | None) -> FinalizeResult:
    """The technique's cross-file step in this process (a worker's job; call it directly to debug one):
    each piece stamped, validated and written as new files before the next is made. Nothing is committed."""
    tech = technique(technique_name)
    ps = params_for(campaign, technique_name)
    wh = worker_warehouse(wh_url, campaign.storage.storage_options)
    # every question of the step reads the version current at its start: one consistent campaign (another
    # technique may commit meanwhile), and one read of the manifest, not one per question (AFM: per pair)
    ctx = FinalizeContext(campaign=campaign, params=ps, query=functools.partial(wh.query, at=wh.manifest_key()))
    when = now_utc()
    unit = unit_key(technique_name, "finalize", ps.id)
    specs = {s.name: s for s in tech.tables}
    entries: dict[str, list[FileEntry]] = {}
    rows = 0
    try:
        for table, df in table_pieces(tech.finalize(ctx)):  # each piece written before the next is made
            df = stamp_frame(df, campaign=campaign.name, technique_name=technique_name, sample_id=None, mode=None,
                             measurement_id=f"finalize:{technique_name}", raw_sha256=None, reader=None,
                             params_id=ps.id, flow_run_id=flow_run_id, processed_at=when)
            entries.setdefault(table, []).extend(write_unit(wh, specs[table], df, unit))
            rows += len(df)
            del df  # not held while the finalize makes its next piece
    except Exception as exc:
        if is_storage_error(exc):
            raise
        return FinalizeResult(unit, 0, {}, (safe_reason(f"{technique_name} finalize failed: {exc}"),
                                            type(exc).__name__, traceback.format_exc()))
    return FinalizeResult(unit, rows, entries)


@dataclass
class ProcessSummary:
    processed: int = 0
    quarantined: list[str] = field(default_factory=list)
    rows: int = 0
    finalize_rows: dict[str, int] = field(default_factory=dict)

    def add(self, other: ProcessSummary) -> None:
        """``other``'s counts into these (a technique's part, made in a thread of its own)."""
        self.processed += other.processed
        self.quarantined += other.quarantined
        self.rows += other.rows
        self.finalize_rows.update(other.finalize_rows)


#: how a run's files run: given files of one technique, their results in batches as the batches finish
#: (without Prefect: ``threaded``, one file a batch; in flows: a Prefect task per batch, flows/process.py)
RunFiles = Callable[[list[WorkItem]], Iterable[list[FileResult]]]


def process_items(wh: Warehouse, name: str, todo: list[WorkItem], flow_run_id: str | None,
                  run_files: RunFiles, summary: ProcessSummary,
                  progress: Progress = no_progress, commit_every: int | None = None) -> None:
    """Process work items of one technique: first the files others need (``Technique.process_first``),
    then references (no sample), then the samples' files — one commit per phase that has files (a later
    phase looks up what the earlier one committed), usually one commit per technique and run.

    A run killed before a commit leaves the warehouse as the last commit left it; the next run finds
    the uncommitted files pending in the ledger and does them again. ``commit_every`` (a backfill of a
    whole history) commits every that many files instead, so that a long run resumes where it stopped.
    """
    done = 0
    phases = ([w for w in todo if w.first], [w for w in todo if not w.first and w.sample_id is None],
              [w for w in todo if not w.first and w.sample_id is not None])
    for phase in (p for p in phases if p):
        step = commit_every or len(phase)
        for i in range(0, len(phase), step):
            results: list[FileResult] = []
            handed_out = wh.manifest_key()  # what the earlier phases and techniques committed
            for batch in run_files([replace(w, manifest_key=handed_out) for w in phase[i:i + step]]):
                results += batch
                done += len(batch)
                progress(f"process {name}", done, len(todo), current=I.shown(batch[-1].event.original_name or ""))
            fault_point(f"process.{name}.written")
            commit_results(wh, results, flow_run_id)
            fault_point(f"process.{name}.committed")
            for r in results:
                summary.processed += 1
                summary.rows += r.event.rows_written
                if r.event.status != "ok":
                    summary.quarantined.append(f"{I.shown(r.event.original_name or '')}: {r.event.reason}")


def process_techniques(campaign: Campaign, wh: Warehouse, flow_run_id: str | None, techniques: list[str] | None, *,
                       run_files: RunFiles, finalize: Callable[[str], int],
                       progress_for: Callable[[str, list[WorkItem]], Progress] = lambda name, todo: no_progress,
                       commit_every: int | None = None) -> ProcessSummary:
    """Every pending file of each technique, then that technique's cross-file step; a technique starts
    once those it comes ``after`` are done, its cross-file step once those it comes ``finalize_after``
    are done too, and techniques independent of each other run side by side (tasks/side_by_side.py:
    one's commits and finalize overlap another's files).

    The one loop over techniques, for the pipeline and every flow. The caller says how files run
    (``run_files``: threads here, a Prefect task per batch in flows), how a technique's finalize runs
    (``finalize(name)`` returns its rows; a backfill forces it) and how progress is shown.
    """
    def files(name: str) -> ProcessSummary:
        part = ProcessSummary()
        todo = pending_work(campaign, wh, name)
        process_items(wh, name, todo, flow_run_id, run_files, part, progress_for(name, todo), commit_every)
        return part

    def finish(name: str, part: ProcessSummary) -> ProcessSummary:
        part.finalize_rows[name] = finalize(name)
        return part

    summary = ProcessSummary()
    names = ordered_techniques(techniques)
    for part in side_by_side.in_dependency_order(names, lambda name: technique(name).after, files, finish=finish,
                                                 finish_after=lambda name: technique(name).finalize_after).values():
        summary.add(part)
    return summary


def process(campaign: Campaign, wh: Warehouse, flow_run_id: str | None = None,
            techniques: list[str] | None = None, progress: Progress = no_progress) -> ProcessSummary:
    """Process every pending raw file, technique by technique, then each technique's finalize."""
    return process_techniques(campaign, wh, flow_run_id, techniques,
                              run_files=threaded(campaign, wh.url, flow_run_id, campaign.execution.max_workers),
                              finalize=lambda name: finalize_technique(campaign, wh, name, flow_run_id),
                              progress_for=lambda name, todo: progress)


def threaded(campaign: Campaign, wh_url: str, flow_run_id: str | None, workers: int) -> RunFiles:
    """How a run without Prefect runs files: a thread per task slot, each file handed to its worker
    process; results come back one file at a time as they finish (per-file progress)."""
    def run_files(part: list[WorkItem]) -> Iterable[list[FileResult]]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(process_file, w, campaign, wh_url, flow_run_id) for w in part]):
                yield [future.result()]

    return run_files


def log_run(campaign: Campaign, wh: Warehouse, flow_run_id: str, step: str, started: datetime,
            intake_summary: IntakeSummary | None = None, process_summary: ProcessSummary | None = None) -> None:
    row = {"flow_run_id": flow_run_id, "campaign": campaign.name, "step": step, "started_at": started,
           "finished_at": now_utc(),
           "files_seen": intake_summary.seen if intake_summary else None,
           "files_new": intake_summary.new_files if intake_summary else None,
           "files_processed": process_summary.processed if process_summary else None,
           "files_quarantined": len(process_summary.quarantined) if process_summary else None,
           "rows_written": process_summary.rows if process_summary else None,
           "detail_json": json.dumps({"intake": intake_summary.__dict__ if intake_summary else None,
                                      "process": process_summary.__dict__ if process_summary else None}, default=str)}
    tx = wh.transaction(flow_run_id)
    tx.upsert(P.FLOW_RUNS, pd.DataFrame([row]))
    fault_point("run.log_ready")
    tx.commit()


def run_local(campaign: Campaign | str | Path, techniques: list[str] | None = None,
              flow_run_id: str = "local", progress: Progress = no_progress) -> tuple[IntakeSummary, ProcessSummary]:
    """The whole campaign without Prefect (tests, debugging): register, intake, process, finalize."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    wh = open_warehouse(campaign)
    started = now_utc()
    register_campaign(campaign, wh, flow_run_id)
    warm_file_workers(campaign)
    shares = [s.name for s in campaign.shares if techniques is None or s.technique in techniques]
    i = intake(campaign, wh, flow_run_id, shares=shares, progress=progress)
    p = process(campaign, wh, flow_run_id, techniques=techniques, progress=progress)
    log_run(campaign, wh, f"{flow_run_id}@{started.isoformat()}", "campaign", started, i, p)
    return i, p


def run_summary(campaign: Campaign, wh: Warehouse, run_ids: str | list[str] | None = None) -> dict[str, Any]:
    """Rows per table, the quarantine and the warnings (``new``: first found by the run ``run_ids``, its id or
    the ids of it and its subflows), as printed by `socscope demo` and stored as run artifacts."""
    from warehouse.warnings import run_warnings

    manifest = wh.manifest()
    tables = [{"table": t, "rows": sum(e.rows for e in es), "files": len(es)} for t, es in sorted(manifest.tables.items())]
    q = wh.rows("select technique, original_name, stage, reason from quarantine order by technique, original_name")
    return {"warehouse": wh.url, "manifest_version": manifest.version, "tables": tables,
            "quarantine": [r._asdict() for r in q], "warnings": run_warnings(wh, run_ids)}
