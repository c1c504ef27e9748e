"""Marts: soc_profile, correlations, pixel_correlations, findings and the findings report.

``build_marts`` is what the `marts` flow runs. soc_profile is incremental (per sample); the
correlations, findings and report are derived from it and rebuilt only when it changed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from socscope.config import Campaign
from tasks.registry import load_params
from warehouse.store import Warehouse

PARAMS_FILE = Path(__file__).with_name("params.yaml")


def build_marts(campaign: Campaign, wh: Warehouse, flow_run_id: str | None, force: bool = False,
                report_dir: Path | None = None) -> dict[str, Any]:
    from warehouse.marts import correlations, findings, profile, report
    from warehouse.marts.features import load_features
    from warehouse.quality import write_quality

    params = load_params(PARAMS_FILE)
    t0 = time.perf_counter()
    prof = profile.build(campaign, wh, flow_run_id, load_features(), params.values, params.id, force=force)
    out: dict[str, Any] = {"soc_profile": prof}
    if prof["rebuilt"] or force or not wh.manifest().tables.get("findings"):
        t1 = time.perf_counter()
        out["correlations"] = correlations.build(campaign, wh, flow_run_id, params.values, params.id)
        out["findings"] = findings.build(campaign, wh, flow_run_id, params.values, params.id)
        out["quality"] = write_quality(campaign, wh, flow_run_id, params.id)
        out["report"] = str(report.write(campaign, wh, params.id, report_dir))
        out["derived_seconds"] = round(time.perf_counter() - t1, 3)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out
