"""Campaign status that tells the truth: per sample × technique, files expected, received, processed,
quarantined and ignored, and a verdict that is "complete" only when processed ≥ expected.

One computation for `socscope status` (table and ``--format json``) and the dashboard's campaign page;
no Streamlit here. ``query(sql, params)`` is any read-only query function on the catalog (``?`` params).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

REFERENCES = "(references)"
VERDICTS = ("complete", "pending", "quarantined", "partial", "missing", "unexpected", "reference")
COLUMNS = ["sample_id", "series", "technique", "expected", "received", "processed", "quarantined", "ignored",
           "verdict"]
Query = Callable[[str, list[Any]], pd.DataFrame]

#: files on the shares now, by sample and technique (files of a cell — techniques with ``cell_files``,
#: the one parameter — count for every sample cut from that cell): received (not ignored by a person),
#: processed (latest attempt under the active parameter set ok), quarantined (latest attempt failed, or
#: intake could not tell its sample)
FILES_SQL = """
    with now_on_shares as (
        select * from raw_files where raw_sha256 in (select raw_sha256 from sightings where superseded_at is null)),
    latest as (
        select raw_sha256, arg_max(status, attempted_at) as status from ingest_events
        where stage = 'process' and params_id in (select params_id from param_sets where active) group by 1),
    files as (
        select r.raw_sha256, r.sample_id, r.cell_id, r.technique,
               r.raw_sha256 in (select target from ignored where how = 'person') as ignored,
               coalesce(l.status = 'ok', false) as processed,
               coalesce(l.status <> 'ok', false) or r.raw_sha256 in (
                   select raw_sha256 from ingest_events where stage = 'intake' and status = 'quarantined') as quarantined
        from now_on_shares r left join latest l using (raw_sha256)),
    per_sample as (
        select sample_id, technique, ignored, processed, quarantined from files
        union all
        select s.sample_id, f.technique, f.ignored, f.processed, f.quarantined
        from files f join sample_config s on s.cell_id = f.cell_id
        where list_contains(?::VARCHAR[], f.technique) and f.sample_id is distinct from s.sample_id)
    select sample_id, technique, count(*) filter (where not ignored) as received,
           count(*) filter (where processed and not ignored) as processed,
           count(*) filter (where quarantined and not ignored) as quarantined
    from per_sample group by 1, 2"""

#: ignored files (by a share's ignore pattern or by a person) per sample and technique
IGNORED_COUNT_SQL = "select sample_id, technique, count(*) as ignored from ignored group by 1, 2"
IGNORED_SQL = """select how, technique, sample_id, original_name, why, who, since from ignored
                 order by how, technique, sample_id nulls first, original_name"""


def verdict(expected: int, received: int, processed: int, quarantined: int, sample_id: str | None) -> str:
    """complete only when processed ≥ expected; otherwise what stands in the way."""
    if sample_id is None:
        return "reference"
    if expected == 0:
        return "unexpected"
    if processed >= expected:
        return "complete"
    if quarantined:
        return "quarantined"
    if received == 0:
        return "missing"
    return "pending" if received >= expected else "partial"


def cell_file_techniques() -> list[str]:
    """The registered techniques whose files record a whole cell."""
    from foundation.registry import available_techniques, technique

    return [name for name in available_techniques() if technique(name).cell_files]


def status_table(campaign: Any, query: Query) -> pd.DataFrame:
    """One row per sample × technique expected or received (references: one row per technique)."""
    counts = query(FILES_SQL, [cell_file_techniques()])
    ignored = query(IGNORED_COUNT_SQL, [])
    got: dict[tuple[Any, str], dict[str, int]] = {}
    for frame in (counts, ignored):
        for r in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            slot = got.setdefault((r.pop("sample_id"), r.pop("technique")), {})
            slot.update({k: int(v) for k, v in r.items()})
    keys = [(s.id, t) for s in campaign.samples for t in sorted(campaign.expected.get(s.id, {}))]
    keys += sorted((k for k in got if k not in set(keys)), key=lambda k: (k[0] is not None, str(k[0]), str(k[1])))
    rows = []
    for sid, tech in keys:
        n = got.get((sid, tech), {})
        expected = int(campaign.expected.get(sid, {}).get(tech, 0)) if sid else 0
        sample = campaign.sample(sid)
        row = {"sample_id": sid if sid is not None else REFERENCES, "series": sample.series if sample else None,
               "technique": tech, "expected": expected,
               **{k: n.get(k, 0) for k in ("received", "processed", "quarantined", "ignored")}}
        row["verdict"] = verdict(expected, row["received"], row["processed"], row["quarantined"], sid)
        rows.append(row)
    return with_warnings(pd.DataFrame(rows, columns=COLUMNS), query)


#: warnings per sample × technique, whichever name the view gives the sample column
WARNINGS_COUNT_SQL = {
    "sample_id": "select coalesce(sample_id, ?) as sample_id, technique, count(*) as warnings from warnings group by 1, 2",
    "sample": "select coalesce(sample, ?) as sample_id, technique, count(*) as warnings from warnings group by 1, 2",
}


def with_warnings(table: pd.DataFrame, query: Query) -> pd.DataFrame:
    """Add a ``warnings`` count per sample × technique when the catalog has a ``warnings`` view or
    table (sample_id or sample, technique); unchanged without one."""
    cols = query("select column_name from information_schema.columns where table_name = 'warnings'", [])
    names = set(cols.column_name) if len(cols) else set()
    sample_col = "sample_id" if "sample_id" in names else "sample" if "sample" in names else None
    if sample_col is None or "technique" not in names:
        return table
    counts = query(WARNINGS_COUNT_SQL[sample_col], [REFERENCES])
    out = table.merge(counts, on=["sample_id", "technique"], how="left")
    out["warnings"] = out["warnings"].fillna(0).astype(int)
    return out


def status_json(campaign: Any, query: Query) -> dict[str, Any]:
    """What `socscope status --format json` prints: the table, the quarantine, the ignored files."""
    table = status_table(campaign, query)
    quarantine = query("select technique, sample_id, original_name, stage, reason, attempted_at from quarantine "
                       "order by technique, original_name", [])
    ignored = query(IGNORED_SQL, [])
    return {"campaign": campaign.name,
            "samples": _records(table),
            "incomplete": int((~table.verdict.isin(["complete", "reference", "unexpected"])).sum()),
            "quarantine": _records(quarantine),
            "ignored": _records(ignored)}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None)
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in out.to_dict("records")]
