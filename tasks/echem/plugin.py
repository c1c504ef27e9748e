"""The echem technique plugin: readers, tables, process (one cycler file) and finalize (SOC of samples)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from foundation.contract import (
    FinalizeContext,
    Measurement,
    Page,
    ProcessContext,
    Technique,
)
from schemas.echem import TABLES
from tasks.echem import canonical, features
from tasks.echem.arbin_csv import ArbinCsvReader
from tasks.echem.arbin_res import ArbinResReader
from tasks.echem.biologic_mpr import BiologicMprReader
from tasks.echem.biologic_text import BiologicTextReader
from tasks.echem.generic_csv import GenericCsvReader
from tasks.echem.maccor import MaccorReader
from tasks.echem.neware import NewareReader
from tasks.echem.neware_csv import NewareCsvReader
from tasks.echem.other_vendors import BasytecReader, NovonixReader
from tasks.echem.page import render as render_page
from tasks.echem.parameters import EchemParameters
from tasks.echem.toyo import ToyoReader

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FEATURES = ROOT / "warehouse" / "marts" / "features" / "echem.yaml"  # its soc_profile features

READERS = [BiologicMprReader(), BiologicTextReader(), ArbinResReader(), ArbinCsvReader(), NewareReader(),
           NewareCsvReader(), MaccorReader(), ToyoReader(), BasytecReader(), NovonixReader(), GenericCsvReader()]


def cell_of(m: Measurement, ctx: ProcessContext) -> str | None:
    if m.provenance is not None and m.provenance.cell_id:
        return m.provenance.cell_id
    if ctx.sample is not None and ctx.sample.cell:
        return ctx.sample.cell
    return ctx.options.get("cell_id")


def process(m: Measurement, ctx: ProcessContext) -> dict[str, pd.DataFrame]:
    cell_id = cell_of(m, ctx)
    cell = ctx.campaign.cell(cell_id) if cell_id else None
    figures = features.cell_figures(cell, m.meta)
    return features.compute(m.data, cell_id, figures, ctx.params.values)


def finalize(ctx: FinalizeContext) -> dict[str, pd.DataFrame]:
    """Measured SOC of every sample whose cell has a cycler file: SOC at the cell's last record."""
    tolerance = float(ctx.params.values.get("soc", {}).get("mismatch_tolerance_pct", 2.0))
    try:
        last = ctx.query("""
            select cell_id, measurement_id, raw_sha256, soc_pct, "timestamp"
            from echem_series
            where params_id = ? and cell_id is not null
            qualify row_number() over (partition by cell_id
                                       order by "timestamp" desc nulls last, measurement_id desc, record_index desc) = 1""", [ctx.params.id])
    except Exception:  # no echem file processed yet: the view does not exist
        return {}
    by_cell = last.set_index("cell_id")
    rows = []
    for s in ctx.campaign.samples:
        if s.cell is None or s.cell not in by_cell.index:
            continue
        r = by_cell.loc[s.cell]
        measured = float(r["soc_pct"]) if pd.notna(r["soc_pct"]) else np.nan
        nominal = s.soc_nominal_pct
        mismatch = bool(nominal is not None and np.isfinite(measured) and abs(measured - nominal) > tolerance)
        rows.append({"sample_id": s.id, "cell_id": s.cell, "soc_measured_pct": measured,
                     "soc_nominal_pct": np.nan if nominal is None else float(nominal), "soc_mismatch": mismatch,
                     "tolerance_pct": tolerance, "harvested_at": r["timestamp"],
                     "measurement_id": r["measurement_id"], "raw_sha256": r["raw_sha256"], "mode": "SOC"})
    if not rows:
        return {}
    return {"sample_soc": pd.DataFrame(rows)}


def _demo(req):
    from tasks.echem.demo import demo

    return demo(req)


QUALITY_CHECKS = {  # name -> SQL yielding subject, passed, value, unit, detail (warehouse/quality.py)
    "soc_matches_label": """
        select sample_id as subject, not soc_mismatch as passed,
               soc_measured_pct - soc_nominal_pct as value, '%' as unit,
               coalesce('measured ' || round(soc_measured_pct, 1) || ' % vs label ' || soc_nominal_pct || ' %',
                        'value: null, ' || if(soc_nominal_pct is null, 'the campaign config gives the sample no '
                        || 'nominal SOC label', 'no SOC measured for the sample')) as detail
        from current_sample_soc""",
    "gitt_rest_relaxed": """
        select measurement_id || ':pulse' || pulse_index, relaxed, end_rest_drift_mv_h, 'mV/h',
               'end-of-rest drift ' || round(end_rest_drift_mv_h, 2) || ' mV/h'
        from current_gitt_pulses""",
}

WARNINGS = {  # code -> SQL yielding sample_id, raw_sha256, subject, message (warehouse/warnings.py)
    "soc_mismatch": """
        select sample_id, raw_sha256, measurement_id,
               'labelled ' || soc_nominal_pct || ' % but its cell ' || cell_id || ' ends at '
               || round(soc_measured_pct, 1) || ' % on the cycler (tolerance ' || tolerance_pct
               || ' points, echem soc.mismatch_tolerance_pct): the measured SOC is used; check the label or the cell'
        from current_sample_soc where soc_mismatch""",
    "clock_jump": """
        select any_value(sample_id), raw_sha256, measurement_id,
               'the tester clock stepped backwards ' || count(*) || ' time(s) (first at record '
               || min(record_index) || '): time_s is kept monotonic, but timestamps after a jump may be off'
        from current_echem_series where clock_jump group by raw_sha256, measurement_id""",
}


TECHNIQUE = Technique(
    name="echem",
    readers=READERS,
    tables=TABLES,
    default_params=HERE / "params" / "default.yaml",
    parameters=EchemParameters,
    process=process,
    finalize=finalize,
    demo=_demo,
    views=[ROOT / "warehouse" / "views" / "echem.sql"],
    checks=QUALITY_CHECKS,
    warnings=WARNINGS,
    features=FEATURES,
    accepts=(canonical.KIND,),
    max_file_mb=4096,
    cell_files=True,
    pages=[Page("gitt", "GITT", render_page)],
)
