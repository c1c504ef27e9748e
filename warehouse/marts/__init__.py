"""Marts: soc_profile, correlations, pixel_correlations, findings and the findings report.

``build_marts`` is what the `marts` flow runs. soc_profile is incremental (per sample); the
correlations, findings, quality, warnings and report are derived marts, each rebuilt only when a table
it may read changed since its last build (``derived_fingerprint``, recorded in mart_state).
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
    """soc_profile (per sample), then each derived mart whose inputs changed since it was built (per
    mart: ``stale_derived``); the result has a key per mart built (none for a mart left as it was)."""
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
    marts_warnings: list = []

    def build_correlations():
        built = correlations.build(campaign, wh, flow_run_id, params.values, params.id)
        marts_warnings.append(built.pop("warnings"))
        return built

    def build_warnings():
        found = marts_warnings[0] if marts_warnings else stored_correlation_warnings(wh, params)
        return write_warnings(campaign, wh, flow_run_id, params.id, found)

    steps = {"correlations": build_correlations,
             "findings": lambda: findings.build(campaign, wh, flow_run_id, params.values, params.id),
             "quality": lambda: write_quality(campaign, wh, flow_run_id, params.id),
             "warnings": build_warnings,
             "report": lambda: str(report.write(campaign, wh, params.id, report_dir))}
    t1, marks = time.perf_counter(), []
    for step_no, (name, build) in enumerate(steps.items(), start=2):
        # each mart's inputs are looked at when its turn comes: the marts before it may have changed them
        state = derived_fingerprint(wh, name, params.id, report_dir)
        if force or _recorded(wh, name) != state:
            started = time.perf_counter()
            out[name] = build()
            marks.append({"mart": name, "scope": "all", "fingerprint": state,
                          "seconds": round(time.perf_counter() - started, 3)})
        progress("marts", step_no, len(MART_STEPS), current=name if name in out else f"{name} unchanged")
    if marks:
        out["derived_seconds"] = round(time.perf_counter() - t1, 3)
        _mark(wh, flow_run_id, marks)
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
    derived = stale_derived(wh, params.id)
    return [f"{', '.join(derived)} (and the marts that read them)"] if derived else []


#: the marts derived from soc_profile, in build order, and the tables each writes
DERIVED = {"correlations": ("correlations", "pixel_correlations"), "findings": ("findings",),
           "quality": ("quality",), "warnings": ("warnings",), "report": ()}
#: tables no mart reads: the marts' own state, and the run log, which a flow run writes after its
#: marts (counting it made every Prefect run leave quality and warnings stale for the next one)
NOT_READ_BY_MARTS = frozenset({"mart_state", "flow_runs"})
#: the tables a derived mart reads, where its code says so (correlations.py, findings.py, report.py;
#: the samples' facts reach them through soc_profile, whose scopes are rebuilt when those change).
#: The others (quality: each technique's check SQL; warnings: every technique's) may read any table
#: but their own and those of the marts after them.
READS = {"correlations": ("soc_profile", "soc_profile_lineage", "afm_pairs", "param_sets", "sample_config", "sample_soc"),
         "findings": ("soc_profile", "soc_profile_lineage", "raw_files"),
         "report": ("soc_profile", "correlations", "findings")}


def derived_fingerprint(wh: Warehouse, mart: str, params_id: str, report_dir: Path | None = None) -> str:
    """The data files ``mart`` reads (``READS``, else every table but ``NOT_READ_BY_MARTS`` and the tables
    of this mart and the marts after it), with the parameter set (and, for the report, where it goes). Equal
    to the one recorded at its last build: nothing it reads has changed, it is not rebuilt."""
    names = list(DERIVED)
    later = {t for m in names[names.index(mart):] for t in DERIVED[m]} | NOT_READ_BY_MARTS
    manifest = wh.manifest()
    tables = READS.get(mart) or [t for t in manifest.tables if t not in later]
    paths = sorted(e.path for t in tables for e in manifest.tables.get(t, []))
    extra = f"{params_id}|{report_dir}" if mart == "report" else params_id
    return hashlib.sha256(("|".join(paths) + "|" + extra).encode()).hexdigest()


def stale_derived(wh: Warehouse, params_id: str) -> list[str]:
    """The derived marts whose inputs changed since their last build, in build order (rebuilding one
    changes the inputs of the marts after it that read its tables)."""
    return [name for name in DERIVED if _recorded(wh, name) != derived_fingerprint(wh, name, params_id)]


def stored_correlation_warnings(wh: Warehouse, params) -> Any:
    """The marts' warnings from the correlations as committed (when warnings are rebuilt alone)."""
    from warehouse.marts import ranking

    corr = wh.query("select * from correlations where params_id = ?", [params.id])
    return ranking.interpolated_only(corr, int(params.values["correlations"]["min_measured_per_side"]))


def _recorded(wh: Warehouse, mart: str) -> str | None:
    done = wh.rows("select fingerprint from mart_state where mart = ? and scope = 'all'", [mart])
    return str(done[0].fingerprint) if done else None


def _mark(wh: Warehouse, flow_run_id: str | None, marks: list[dict]) -> None:
    """Record the inputs each derived mart was built from, in one commit after all of them: a run
    killed half-way builds them again next time instead of keeping half."""
    import pandas as pd

    from schemas.marts import MART_STATE

    tx = wh.transaction(flow_run_id)
    tx.upsert(MART_STATE, pd.DataFrame(marks).assign(built_at=pd.Timestamp.now(tz="UTC")), keep="new")
    tx.commit()
