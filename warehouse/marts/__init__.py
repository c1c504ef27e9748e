"""Marts: soc_profile, correlations, pixel_correlations, findings and the findings report.

``build_marts`` is what the `marts` flow runs. soc_profile is incremental (per sample); the
correlations, findings and report are derived from it and rebuilt only when it changed.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from foundation.campaign import Campaign
from foundation.parameters import load_params
from foundation.progress import Progress, no_progress
from warehouse.store import Warehouse

PARAMS_FILE = Path(__file__).with_name("params.yaml")
#: what build_marts reports progress over: the profile, then the marts derived from it
MART_STEPS = ("soc_profile", "correlations", "findings", "quality", "warnings", "report")


def build_marts(campaign: Campaign, wh: Warehouse, flow_run_id: str | None, force: bool = False,
                report_dir: Path | None = None, progress: Progress = no_progress) -> dict[str, Any]:
    from warehouse.marts import correlations, findings, profile, report
    from warehouse.marts.features import load_features
    from warehouse.marts.parameters import MartsParameters
    from warehouse.quality import write_quality
    from warehouse.warnings import write_warnings

    params = load_params(PARAMS_FILE, MartsParameters)
    t0 = time.perf_counter()
    progress("marts", 0, len(MART_STEPS), current="soc_profile")
    prof = profile.build(campaign, wh, flow_run_id, load_features(), params.values, params.id, force=force)
    out: dict[str, Any] = {"soc_profile": prof}
    progress("marts", 1, len(MART_STEPS), current="soc_profile")
    # The derived marts are several commits; the mark that they match this profile is committed
    # after all of them, so a run killed half-way rebuilds them next time instead of keeping half.
    state = _profile_state(wh, params.id)
    done = wh.query("select fingerprint from mart_state where mart = 'derived' and scope = 'all'")  # DERIVED
    if prof["rebuilt"] or force or done.empty or done.fingerprint.iloc[0] != state:
        t1 = time.perf_counter()
        out["correlations"] = correlations.build(campaign, wh, flow_run_id, params.values, params.id)
        progress("marts", 2, len(MART_STEPS), current="correlations")
        marts_warnings = out["correlations"].pop("warnings")
        steps = {"findings": lambda: findings.build(campaign, wh, flow_run_id, params.values, params.id),
                 "quality": lambda: write_quality(campaign, wh, flow_run_id, params.id),
                 "warnings": lambda: write_warnings(campaign, wh, flow_run_id, params.id, marts_warnings),
                 "report": lambda: str(report.write(campaign, wh, params.id, report_dir))}
        for step_no, (name, build) in enumerate(steps.items(), start=3):
            out[name] = build()
            progress("marts", step_no, len(MART_STEPS), current=name)
        out["derived_seconds"] = round(time.perf_counter() - t1, 3)
        _mark_derived(wh, flow_run_id, state, out["derived_seconds"])
    else:
        progress("marts", len(MART_STEPS), len(MART_STEPS), current="unchanged since the last build")
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def stale_marts(wh: Warehouse) -> list[str]:
    """What ``build_marts`` would rebuild now, in words (empty: every mart matches the tables it reads);
    read-only, and without the statistics imports of a build."""
    from warehouse.marts import profile
    from warehouse.marts.features import load_features
    from warehouse.marts.parameters import MartsParameters

    params = load_params(PARAMS_FILE, MartsParameters)
    stale = profile.stale_scopes(wh, load_features(), params.id)
    if stale:
        return [f"soc_profile of {len(stale)} scope(s) ({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''})"]
    done = wh.query("select fingerprint from mart_state where mart = ? and scope = 'all'", [DERIVED])
    if done.empty or done.fingerprint.iloc[0] != _profile_state(wh, params.id):
        return ["the marts derived from soc_profile (correlations, findings, quality, warnings, report)"]
    return []


#: mart_state row that says which soc_profile state the correlations, findings, quality and report match
DERIVED = "derived"


def _profile_state(wh: Warehouse, params_id: str) -> str:
    df = wh.query("select scope, fingerprint from mart_state where mart = 'soc_profile' order by scope")
    return hashlib.sha256((df.to_csv(index=False) + params_id).encode()).hexdigest()


def _mark_derived(wh: Warehouse, flow_run_id: str | None, state: str, seconds: float) -> None:
    import pandas as pd

    from schemas.marts import MART_STATE

    tx = wh.transaction(flow_run_id)
    tx.upsert(MART_STATE, pd.DataFrame([{"mart": DERIVED, "scope": "all", "fingerprint": state,
                                         "built_at": pd.Timestamp.now(tz="UTC"), "seconds": seconds}]), keep="new")
    tx.commit()
