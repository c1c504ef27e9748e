"""The operator's file commands as plain functions: find a file, a person's ignore/unignore decision,
which files a retry takes. `socscope explain` is tasks/explain.py; the flows and CLI call these.

A FILE is named by its raw sha256 (or a prefix of at least 8 hex digits), by ``SHARE:PATH`` (path
relative to the share), by a path on disk inside a local share, or by a glob on share paths and
file names (``S1/*.xye``, ``._*``).
"""
from __future__ import annotations

import fnmatch
import getpass
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from foundation.campaign import Campaign, Share
from foundation.ledger import now_utc
from schemas import platform as P
from tasks import intake as I
from warehouse.store import Warehouse

SHA_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


class NoSuchFile(LookupError):
    """A FILE that names nothing the campaign knows (the message says what was searched)."""


@dataclass(frozen=True)
class Target:
    """One file a command acts on: its raw file when intake took it, else only its share path."""

    key: str  # the raw sha256, or the path key of a share path intake never took
    share: str | None
    path: str | None
    technique: str | None
    sample_id: str | None
    raw_sha256: str | None


def share_path(campaign: Campaign, spec: str) -> tuple[Share, str] | None:
    """(share, relative path) of ``SHARE:PATH`` or of a path on disk inside a local share."""
    name, sep, rel = spec.partition(":")
    share = next((s for s in campaign.shares if s.name == name), None) if sep else None
    if share is not None:
        return share, rel.lstrip("/")
    candidate = Path(spec).expanduser().resolve()
    for share in campaign.shares:
        root = campaign.resolve(share.url)
        if "://" not in root and candidate.is_relative_to(Path(root).resolve()):
            return share, candidate.relative_to(Path(root).resolve()).as_posix()
    return None


def _known_files(wh: Warehouse) -> pd.DataFrame:
    return wh.query("select r.raw_sha256, r.technique, r.sample_id, r.original_name, s.share, s.path "
                    "from raw_files r left join sightings s on s.raw_sha256 = r.raw_sha256 and s.superseded_at is null "
                    "order by r.raw_sha256, s.share, s.path")


def resolve(campaign: Campaign, wh: Warehouse, spec: str) -> list[Target]:
    """The files ``spec`` names (see the module docstring); NoSuchFile when none."""
    known = _known_files(wh)
    spec = spec.strip()
    if SHA_PREFIX.match(spec.lower()):
        hits = known[known.raw_sha256.str.startswith(spec.lower())]
    elif (located := share_path(campaign, spec)) is not None:
        share, rel = located
        hits = known[(known.share == share.name) & (known.path == rel)]
        if not len(hits):  # not taken (yet, or ignored by pattern): the path itself
            return [Target(I.path_key(share.name, rel), share.name, rel, share.technique,
                           I.sample_in_path(share, rel), None)]
    else:
        hits = known[known.path.fillna("").map(lambda p: fnmatch.fnmatchcase(p, spec))
                     | known.original_name.map(lambda n: fnmatch.fnmatchcase(n, spec))]
    if not len(hits):
        raise NoSuchFile(f"no file matches {spec!r}: give a raw sha256 (8+ hex digits), SHARE:PATH, a path inside a "
                         f"share, or a glob on share paths and names (see `socscope status --ignored` and the "
                         f"quarantine for names)")
    hits = hits.drop_duplicates("raw_sha256").astype(object).where(hits.notna(), None)
    return [Target(r["raw_sha256"], r["share"], r["path"], r["technique"], r["sample_id"], r["raw_sha256"])
            for r in hits.to_dict("records")]


def decide(campaign: Campaign, wh: Warehouse, spec: str, action: str, why: str, who: str | None = None,
           flow_run_id: str | None = None) -> list[Target]:
    """Record a person's ``ignore`` or ``unignore`` of the files ``spec`` names, with who, when and why.

    An ignored file is never processed nor quarantined (intake skips an ignored path, the work
    selection an ignored raw file); ``unignore`` makes it ordinary again (the next run takes it).
    """
    if action not in ("ignore", "unignore"):
        raise ValueError(f"action is 'ignore' or 'unignore', not {action!r}")
    if not why.strip():
        raise ValueError("say why (--why): the decision is kept for the people after you")
    targets = resolve(campaign, wh, spec)
    ignored = set(wh.query("select target from ignored where how = 'person'").target)
    if action == "unignore":
        targets = [t for t in targets if t.key in ignored]
        if not targets:
            raise NoSuchFile(f"no file matching {spec!r} is ignored by a person; `socscope status --ignored` lists them")
    when = now_utc()
    rows = [{"target": t.key, "campaign": campaign.name, "action": action, "who": who or getpass.getuser(),
             "why": why.strip(), "decided_at": when, "technique": t.technique, "sample_id": t.sample_id,
             "share": t.share, "path": t.path} for t in targets]
    tx = wh.transaction(flow_run_id)
    tx.upsert(P.DECISIONS, pd.DataFrame(rows))
    tx.commit()
    return targets


def matches_files(item: Any, files: list[str] | None) -> bool:
    """Whether a work item is one of ``files``: sha256 prefixes, or globs on its share path or name."""
    if not files:
        return True
    for spec in files:
        if SHA_PREFIX.match(spec.lower()) and item.raw_sha256.startswith(spec.lower()):
            return True
        if any(fnmatch.fnmatchcase(n, spec) for n in (item.rel_path or "", item.original_name,
                                                       f"{item.share}:{item.rel_path}")):
            return True
    return False


def quarantined_files(wh: Warehouse, technique_name: str) -> set[str]:
    """Raw files of a technique whose latest process attempt (any parameter set) was quarantined."""
    latest = wh.query("select raw_sha256, arg_max(status, attempted_at) as status from ingest_events "
                      "where stage = 'process' and technique = ? group by 1", [technique_name])
    return set(latest[latest.status != "ok"].raw_sha256)
