"""The `warnings` table: values that were computed but should not be trusted as they are.

Each registered technique declares its warnings (``Technique.warnings``): code -> SQL over its current
views yielding (sample_id, raw_sha256, subject, message); the marts add their own (correlations left
out of the ranking because their points are interpolated). The platform collects them after every
marts build, keeps the time each was first seen (``since``) across builds, and replaces the table.
``campaign_warnings`` is what the end of a run, `socscope status` and the dashboard show.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd

from foundation.registry import ordered_techniques, technique
from schemas.platform import WARNINGS
from warehouse.declared import declared_rows, missing_view
from warehouse.store import Warehouse

#: what a technique's warning SQL yields, in this order
WARNING_COLUMNS = ("sample_id", "raw_sha256", "subject", "message")
#: the table unit the collected warnings replace on every build
UNIT = "warnings:all"


def technique_warnings(wh: Warehouse) -> pd.DataFrame:
    """Every registered technique's declared warnings, as found on the current views."""
    frames = [_run_warning(wh, name, code, sql)
              for name in ordered_techniques() for code, sql in technique(name).warnings.items()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["technique", "code",
                                                                                        *WARNING_COLUMNS])


def _run_warning(wh: Warehouse, technique_name: str, code: str, sql: str) -> pd.DataFrame:
    # a technique with no files yet has no views: nothing to warn about
    df = declared_rows(wh, "warning", technique_name, code, sql, WARNING_COLUMNS, missing_ok=True)
    df.insert(0, "code", code)
    df.insert(0, "technique", technique_name)
    return df


#: the platform's own warning: files a share's ignore list kept out (macOS `._*`, `.DS_Store`...), one per
#: technique × sample, so that people see that the share holds junk even though nothing went wrong
IGNORED_SQL = """select technique, sample_id, count(*) as n, string_agg(original_name, ', ' order by original_name) as names
                 from ignored where how = 'pattern' group by 1, 2 order by 1, 2"""


def ignored_warnings(wh: Warehouse) -> pd.DataFrame:
    try:
        df = wh.query(IGNORED_SQL)
    except Exception as exc:
        if missing_view(exc):
            return pd.DataFrame(columns=["technique", "code", *WARNING_COLUMNS])
        raise
    rows = [{"technique": r.technique, "code": "files_ignored", "sample_id": r.sample_id, "raw_sha256": None,
             "subject": "ignore list",
             "message": f"{r.n} file{'s' if r.n > 1 else ''} matched the share's ignore list and were not taken "
                        f"(not data): {_first_names(r.names)}; `socscope status --ignored` lists them"}
            for r in df.itertuples()]
    return pd.DataFrame(rows, columns=["technique", "code", *WARNING_COLUMNS])


def _first_names(names: str, shown: int = 3) -> str:
    parts = names.split(", ")
    return ", ".join(parts[:shown]) + (f" and {len(parts) - shown} more" if len(parts) > shown else "")


def _key(row: pd.Series) -> str:
    parts = [row.get(c) for c in ("technique", "code", "sample_id", "raw_sha256", "subject")]
    text = "|".join("" if p is None or (isinstance(p, float) and pd.isna(p)) else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def previous(wh: Warehouse) -> pd.DataFrame:
    """The warnings of the last build (for ``since``), empty before the first."""
    try:
        return wh.query("select warning_key, since, flow_run_id from warnings")
    except Exception as exc:
        if missing_view(exc):
            return pd.DataFrame(columns=["warning_key", "since", "flow_run_id"])
        raise


def assemble(campaign_name: str, found: pd.DataFrame, before: pd.DataFrame, names: pd.DataFrame,
             run_id: str | None, params_id: str, now: pd.Timestamp) -> pd.DataFrame:
    """The table rows: keyed, named, and dated by when each was first seen (kept from ``before``)."""
    if found.empty:
        return pd.DataFrame(columns=WARNINGS.column_names)
    df = found.copy()
    df["warning_key"] = df.apply(_key, axis=1)
    df = df.drop_duplicates("warning_key")
    kept = before.set_index("warning_key")
    df["since"] = df["warning_key"].map(kept["since"]).fillna(now) if len(kept) else now
    df["flow_run_id"] = df["warning_key"].map(kept["flow_run_id"]) if len(kept) else None
    new = ~df["warning_key"].isin(kept.index)
    df.loc[new, "flow_run_id"] = run_id
    name_of = names.drop_duplicates("raw_sha256").set_index("raw_sha256")["original_name"]
    df["original_name"] = df["raw_sha256"].map(name_of)
    df["campaign"], df["seen_at"], df["params_id"] = campaign_name, now, params_id
    df["since"] = pd.to_datetime(df["since"], utc=True)
    return df.reindex(columns=WARNINGS.column_names)


def write_warnings(campaign, wh: Warehouse, run_id: str | None, params_id: str,
                   marts_found: pd.DataFrame | None = None) -> int:
    """Collect the techniques' and the marts' warnings and replace the table (one commit)."""
    found = pd.concat([technique_warnings(wh), ignored_warnings(wh), marts_found if marts_found is not None else None],
                      ignore_index=True)
    names = wh.query("select raw_sha256, original_name from raw_files")
    df = assemble(campaign.name, found, previous(wh), names, run_id, params_id, pd.Timestamp.now(tz="UTC"))
    tx = wh.transaction(run_id)
    if len(df):
        tx.put(WARNINGS, df, UNIT)
    else:
        tx.replace_unit(UNIT)
    tx.commit()
    return len(df)


SHOWN = ["code", "technique", "sample_id", "original_name", "raw_sha256", "subject", "message", "since",
         "flow_run_id"]
CAMPAIGN_SQL = """select code, technique, sample_id, original_name, raw_sha256, subject, message, since, flow_run_id
                  from warnings order by code, sample_id nulls last, original_name nulls last, subject"""


def campaign_warnings(wh: Warehouse, run_ids: str | list[str] | None = None) -> pd.DataFrame:
    """The campaign's current warnings, by code, sample and file; ``new`` marks those first found by the
    run ``run_ids`` (a run id, or a run and its subflow runs: what the end of that run calls new)."""
    df = _stored(wh.query)
    if df is None:
        df = pd.DataFrame(columns=SHOWN)
    df["new"] = df["flow_run_id"].isin(_ids(run_ids))
    return df


def _stored(read: Callable[[str], Any]) -> Any:
    """``read(CAMPAIGN_SQL)`` (a frame or rows), or None before the warnings table exists."""
    try:
        return read(CAMPAIGN_SQL)
    except Exception as exc:
        if not missing_view(exc):
            raise
        return None


def _ids(run_ids: str | list[str] | None) -> list[str]:
    return [run_ids] if isinstance(run_ids, str) else list(run_ids or [])


def run_warnings(wh: Warehouse, run_ids: str | list[str] | None = None) -> list[dict]:
    """``campaign_warnings`` as plain records (text and booleans, NULL as None, ``since`` as text), for a
    run's summary and its artifacts; read as rows, without pandas (the summary of a no-op re-run)."""
    found = _stored(wh.rows) or []
    ids = set(_ids(run_ids))
    return [{**r._asdict(), "since": None if r.since is None else str(r.since), "new": r.flow_run_id in ids}
            for r in found]


def warning_lines(warnings: pd.DataFrame | list[dict], per_code: int = 5) -> list[str]:
    """Plain-text lines for a terminal: a count per code, then up to ``per_code`` of its warnings
    (files and samples first named; "new" when first found by this run)."""
    records = warnings if isinstance(warnings, list) else warnings.to_dict("records")
    by_code: dict[str, list[dict]] = {}
    for r in records:
        if isinstance(r.get("code"), str):
            by_code.setdefault(r["code"], []).append(r)
    if not by_code:
        return ["no warnings"]
    lines = []
    for code, g in sorted(by_code.items()):
        new = sum(r.get("new") is True for r in g)
        lines.append(f"{code}: {len(g)}" + (f" ({new} new)" if new else ""))
        for r in g[:per_code]:
            where = " ".join(v for v in (r.get("sample_id"), r.get("original_name")) if isinstance(v, str) and v)
            lines.append(f"  {'[new] ' if r.get('new') is True else ''}{where + ': ' if where else ''}{r.get('message')}")
        if len(g) > per_code:
            lines.append(f"  … and {len(g) - per_code} more (socscope query \"select * from warnings "
                         f"where code = '{code}'\")")
    return lines
