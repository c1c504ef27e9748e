"""The `quality` table: one row per check on a measurement, written after every processing run.

Each registered technique declares its checks (``Technique.checks``): name -> SQL over its current
tables yielding (subject, passed, value, unit, detail); the technique's name is added here.
"""
from __future__ import annotations

import pandas as pd

from foundation.registry import ordered_techniques, technique
from schemas.platform import QUALITY
from warehouse.declared import declared_rows
from warehouse.faults import fault_point
from warehouse.store import Warehouse

#: what a check's SQL yields, in this order
CHECK_COLUMNS = ("subject", "passed", "value", "unit", "detail")


def run_checks(campaign, wh: Warehouse, params_id: str) -> pd.DataFrame:
    frames = []
    for technique_name in ordered_techniques():
        for check_name, sql in technique(technique_name).checks.items():
            frames.append(_run_check(wh, technique_name, check_name, sql))
    if not frames:
        return pd.DataFrame(columns=QUALITY.column_names)
    out = pd.concat(frames, ignore_index=True)
    out["campaign"] = campaign.name
    out["params_id"] = params_id
    out["checked_at"] = pd.Timestamp.now(tz="UTC")
    out["passed"] = out["passed"].fillna(False).astype(bool)
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out.drop_duplicates(["subject", "check_name"])[QUALITY.column_names]


def _run_check(wh: Warehouse, technique_name: str, check_name: str, sql: str) -> pd.DataFrame:
    df = declared_rows(wh, "quality check", technique_name, check_name, sql, CHECK_COLUMNS)
    df.insert(0, "technique", technique_name)
    df["check_name"] = check_name
    return df


def write_quality(campaign, wh: Warehouse, run_id: str | None, params_id: str) -> int:
    df = run_checks(campaign, wh, params_id)
    tx = wh.transaction(run_id)
    tx.put(QUALITY, df, "quality:checks")
    fault_point("marts.quality.written")
    tx.commit()
    return len(df)
