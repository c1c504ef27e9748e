"""The run ledger: every attempt to turn a raw file into rows, and the one definition of "already done".

An attempt is recorded as an :class:`IngestEvent` (a row of ``ingest_events``, schemas/platform.py),
built through one constructor per stage with keyword arguments only, so that a value cannot land in
the wrong column by position. Whether a file still needs work is decided by its :class:`AttemptKey`
(raw file, parameter set, code version, limits, and the campaign settings the file is read under): the files the ledger holds as done
(:func:`done_files`, which the selection of pending work subtracts) and the Prefect cache key of a
file task (:meth:`AttemptKey.cache_key`) both derive from it. A technique's cross-file step is done when its
inputs' fingerprint is in the ledger (:func:`finalize_fingerprint`, :func:`already_finalized`).

The ledger stands on the ground floor: it reads and writes through the warehouse and transaction
objects it is given (``query(sql, params)`` for a frame, ``rows(sql, params)`` for named tuples,
``upsert(spec, frame, keep)``) and imports none of them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import foundation
from foundation.contract import safe_reason
from foundation.registry import params_for, technique
from schemas import platform as P

log = logging.getLogger(__name__)

#: the error_type of a file stopped by a limit is one of these, then "@<limits id>"
LIMIT_ERRORS = ("TimeLimitExceeded", "MemoryLimitExceeded", "WorkerDied")
#: the params_id of intake events, which no parameter set produced
INTAKE_PARAMS = "intake"
TRACEBACK_LIMIT = 8000


def now_utc() -> datetime:
    return datetime.now(UTC)


def code_version(technique_name: str | None) -> str:
    """Hash of the platform version and the technique's reader ids (the platform's alone for intake)."""
    parts = [foundation.__version__]
    if technique_name:
        parts += sorted(r.id for r in technique(technique_name).readers)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def settings_digest(campaign: Any, technique_name: str, share: str | None = None, sample_id: str | None = None,
                    cell_id: str | None = None) -> str:
    """Digest of the campaign configuration one file's result depends on besides its parameter set:
    the technique's ``settings`` (e.g. sxpd wavelength), its share's reader options, reader overrides
    and sample mapping, and its sample's and cell's facts (a description is not read by anyone)."""
    own_share = next((s for s in campaign.shares if s.name == share), None)
    sample, cell = campaign.sample(sample_id), campaign.cell(cell_id)
    parts = {
        "settings": campaign.settings.get(technique_name, {}),
        "share": own_share.model_dump(mode="json", include={"reader_options", "readers", "mapping"}) if own_share else None,
        "sample": sample.model_dump(mode="json", exclude={"description"}) if sample else None,
        "cell": cell.model_dump(mode="json") if cell else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------ already done
@dataclass(frozen=True, kw_only=True)
class AttemptKey:
    """What makes two attempts at a raw file the same attempt: a file is done when the ledger holds a
    'process' event with its raw file, parameter set, code version and settings digest
    (:func:`settings_digest`) — unless a limit stopped that attempt and the technique's limits changed
    since (then it is tried again under the new ones).

    ``raw_sha256`` and ``settings_id`` are None for the key of a whole technique, which selects among
    many files (each file has its own settings: its share, its sample).
    """

    raw_sha256: str | None
    params_id: str
    code_version: str
    limits_id: str
    settings_id: str | None = None

    @classmethod
    def of(cls, campaign: Any, technique_name: str, raw_sha256: str | None = None, *, share: str | None = None,
           sample_id: str | None = None, cell_id: str | None = None) -> AttemptKey:
        """The key of one file (``raw_sha256`` and where it came from), or of the technique (no file)."""
        key = cls(raw_sha256=None, params_id=params_for(campaign, technique_name).id,
                  code_version=code_version(technique_name), limits_id=campaign.processing.limits_for(technique_name).id)
        if raw_sha256 is None:
            return key
        return key.of_file(campaign, technique_name, raw_sha256, share=share, sample_id=sample_id, cell_id=cell_id)

    def of_file(self, campaign: Any, technique_name: str, raw_sha256: str, *, share: str | None = None,
                sample_id: str | None = None, cell_id: str | None = None) -> AttemptKey:
        """This technique key (from ``of`` without a file) for one file: its raw file and settings digest."""
        return dataclasses.replace(self, raw_sha256=raw_sha256,
                                   settings_id=settings_digest(campaign, technique_name, share, sample_id, cell_id))

    def for_file(self, raw_sha256: str) -> AttemptKey:
        return dataclasses.replace(self, raw_sha256=raw_sha256)

    def limit_error(self, kind: str) -> str:
        """The error_type of an attempt this key's limits stopped (``kind`` one of LIMIT_ERRORS)."""
        if kind not in LIMIT_ERRORS:
            raise ValueError(f"{kind!r} is not a limit error; use one of {LIMIT_ERRORS}")
        return f"{kind}@{self.limits_id}"

    def cache_key(self, scope: str) -> str:
        """The Prefect cache key of this file's task; ``scope`` keeps warehouses apart (their URL)."""
        if self.raw_sha256 is None:
            raise ValueError("a cache key is per file: take AttemptKey.for_file(raw_sha256) first")
        return f"{self.raw_sha256}:{self.params_id}:{self.code_version}:{self.limits_id}:{self.settings_id}:{scope}"


#: (raw file, settings digest) attempts done under an attempt key (see AttemptKey); every value is bound
DONE_SQL = """
    select distinct raw_sha256, settings_id from ingest_events
    where stage = 'process' and params_id = $params_id and code_version = $code_version
      -- a file stopped by a limit is tried again once its technique's limits change
      and not (regexp_matches(coalesce(error_type, ''), $limit_errors) and not ends_with(error_type, $limits_suffix))"""


def done_attempts(wh: Any, key: AttemptKey) -> set[tuple[str, str | None]]:
    """The (raw file sha256, settings digest) pairs the ledger holds as done under ``key`` (its raw
    file and settings left open): a file is done when its own current settings digest is among them.
    An attempt recorded before settings were part of the key has none, and is tried again once."""
    done = wh.rows(DONE_SQL, {"params_id": key.params_id, "code_version": key.code_version,
                              "limit_errors": "^(" + "|".join(re.escape(e) for e in LIMIT_ERRORS) + ")@",
                              "limits_suffix": "@" + key.limits_id})
    return {(r.raw_sha256, r.settings_id if isinstance(r.settings_id, str) else None) for r in done}


def done_files(wh: Any, key: AttemptKey) -> set[str]:
    """The raw files (sha256) done under ``key``: under its settings digest when it names one, else under any."""
    return {sha for sha, settings in done_attempts(wh, key) if key.settings_id is None or settings == key.settings_id}


def finalize_fingerprint(wh: Any, technique_names: Iterable[str], params_id: str, code: str) -> str:
    """Fingerprint of a cross-file step's inputs: the process attempts of its techniques, its
    parameter set and code version. The step is done when an event holds it (:func:`already_finalized`)."""
    state = wh.query("select raw_sha256, params_id, code_version, settings_id, status from ingest_events "
                     "where stage = 'process' and list_contains($techniques, technique) order by 1, 2, 3",
                     {"techniques": list(technique_names)})
    return hashlib.sha256((state.to_csv(index=False) + params_id + code).encode()).hexdigest()


def already_finalized(wh: Any, fingerprint: str) -> bool:
    """The step ran on these inputs and succeeded. A failed one is tried again at the next run, so that
    its tables never stay behind their inputs unnoticed (it fails again, loudly, until its cause is fixed)."""
    done = wh.query("select 1 from ingest_events where stage = 'finalize' and raw_sha256 = $key and status = 'ok'",
                    {"key": _finalize_sha(fingerprint)})
    return len(done) > 0


def _finalize_sha(fingerprint: str) -> str:
    return f"fin:{fingerprint}"


# ------------------------------------------------------------------------------------ events
@dataclass(frozen=True, kw_only=True)
class IngestEvent:
    """One row of ``ingest_events``; build it with :meth:`intake`, :meth:`process` or :meth:`finalize`."""

    raw_sha256: str
    campaign: str
    technique: str | None
    sample_id: str | None
    stage: str
    status: str
    reason: str | None
    error_type: str | None
    traceback_digest: str | None
    reader: str | None
    params_id: str
    code_version: str
    settings_id: str | None = None
    rows_written: int
    flow_run_id: str | None
    attempted_at: datetime = field(default_factory=now_utc)
    original_name: str | None

    @classmethod
    def intake(cls, *, campaign: str, raw_sha256: str, technique: str | None, status: str, reason: str | None,
               flow_run_id: str | None, original_name: str | None, error_type: str | None = None,
               sample_id: str | None = None) -> IngestEvent:
        """A path taken, refused, ignored or left without a sample by intake (``raw_sha256`` may be a path key)."""
        return cls(raw_sha256=raw_sha256, campaign=campaign, technique=technique, sample_id=sample_id, stage="intake",
                   status=status, reason=reason, error_type=error_type, traceback_digest=None, reader=None,
                   params_id=INTAKE_PARAMS, code_version=code_version(None), rows_written=0,
                   flow_run_id=flow_run_id, original_name=original_name)

    @classmethod
    def process(cls, *, key: AttemptKey, campaign: str, technique: str, sample_id: str | None, status: str,
                reason: str | None, error_type: str | None, reader: str | None, flow_run_id: str | None,
                original_name: str | None, rows_written: int = 0, traceback: str | None = None) -> IngestEvent:
        """An attempt at one raw file under ``key`` (its raw file, parameter set and code version)."""
        if key.raw_sha256 is None:
            raise ValueError("a process event is about one file: take AttemptKey.for_file(raw_sha256) first")
        return cls(raw_sha256=key.raw_sha256, campaign=campaign, technique=technique, sample_id=sample_id,
                   stage="process", status=status, reason=reason, error_type=error_type,
                   traceback_digest=_log_traceback("process", status, original_name, reason, traceback),
                   reader=reader, params_id=key.params_id, code_version=key.code_version,
                   settings_id=key.settings_id, rows_written=rows_written, flow_run_id=flow_run_id, original_name=original_name)

    @classmethod
    def finalize(cls, *, fingerprint: str, campaign: str, technique: str, params_id: str, code_version: str,
                 status: str, reason: str | None, error_type: str | None, flow_run_id: str | None,
                 rows_written: int, traceback: str | None = None) -> IngestEvent:
        """A technique's cross-file step over the inputs ``fingerprint`` names (:func:`finalize_fingerprint`)."""
        return cls(raw_sha256=_finalize_sha(fingerprint), campaign=campaign, technique=technique, sample_id=None,
                   stage="finalize", status=status, reason=reason, error_type=error_type,
                   traceback_digest=_log_traceback("finalize", status, None, reason, traceback), reader=None,
                   params_id=params_id, code_version=code_version, rows_written=rows_written,
                   flow_run_id=flow_run_id, original_name=None)

    def row(self) -> dict[str, Any]:
        """The ``ingest_events`` row: the table's columns, in its order."""
        return {c.name: getattr(self, c.name) for c in P.INGEST_EVENTS.columns}


def write_events(tx: Any, events: Iterable[IngestEvent]) -> None:
    """Add ``events`` to a warehouse transaction (a later attempt with the same key replaces the earlier)."""
    import pandas as pd

    rows = [e.row() for e in events]
    if rows:
        tx.upsert(P.INGEST_EVENTS, pd.DataFrame(rows), keep="new")


def _log_traceback(stage: str, status: str, name: str | None, reason: str | None, tb: str | None) -> str | None:
    """Log the whole traceback, bounded and escaped; the event keeps its digest (to group failures)."""
    if not tb:
        return None
    log.info("%s %s of %s: %s\n%s", stage, status, safe_reason(repr(name), 200), reason, bounded_traceback(tb))
    return hashlib.sha256(tb.encode()).hexdigest()[:12]


def bounded_traceback(tb: str, limit: int = TRACEBACK_LIMIT) -> str:
    """A traceback for logs: every line escaped and cut (an exception text may hold a file's bytes),
    the whole cut to ``limit`` characters keeping its end, where the error is."""
    lines = [safe_reason(line, 500) for line in tb.splitlines()]
    out: list[str] = []
    used = 0
    for line in reversed(lines):
        if used + len(line) + 1 > limit:
            out.append(f"… [{len(lines) - len(out)} earlier lines cut]")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(reversed(out))
