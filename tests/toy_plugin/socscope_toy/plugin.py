"""The toy technique plugin: everything socscope learns about the toy is declared here."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from foundation.contract import Measurement, Page, Technique

from .page import render
from .parameters import ToyParameters
from .readers import KIND, ToyCsvReader, ToyJsonReader
from .tables import TOY_SUMMARY, TOY_VALUES

HERE = Path(__file__).resolve().parent
PARAMS = HERE / "params" / "default.yaml"

QUALITY_CHECKS = {  # name -> SQL yielding subject, passed, value, unit, detail
    "toy_values_finite": """
        select measurement_id, bool_and(isfinite(y_v)), max(abs(y_v)), 'V',
               'largest |y| ' || round(max(abs(y_v)), 3) || ' V over ' || count(*) || ' points'
        from current_toy_values group by measurement_id""",
}

WARNINGS = {  # code -> SQL yielding sample_id, raw_sha256, subject, message
    "toy_out_of_range": """
        select any_value(sample_id), raw_sha256, measurement_id,
               count(*) || ' point(s) above 100 V (largest ' || max(y_v) || ' V): check the probe range'
        from current_toy_values where y_v > 100 group by raw_sha256, measurement_id""",
}


def process(m: Measurement, ctx) -> dict[str, pd.DataFrame]:
    scale = float(ctx.params.values["scale"]["factor"])
    df = m.data.copy()
    df["y_v"] = df["y_v"] * scale
    return {"toy_values": df}


def finalize(ctx) -> dict[str, pd.DataFrame]:
    df = ctx.query("select sample_id, count(*) as n_points, avg(y_v) as mean_y_v from current_toy_values "
                   "where sample_id is not null group by 1 order by 1")
    df["n_points"] = df["n_points"].astype("int64")
    df["measurement_id"] = "summary:" + df["sample_id"]
    return {"toy_summary": df}


TECHNIQUE = Technique(
    name="toy",
    readers=[ToyCsvReader(), ToyJsonReader()],
    tables=[TOY_VALUES, TOY_SUMMARY],
    default_params=PARAMS,
    parameters=ToyParameters,
    process=process,
    finalize=finalize,
    accepts=(KIND,),
    views=[HERE / "views" / "toy.sql"],
    checks=QUALITY_CHECKS,
    warnings=WARNINGS,
    features=HERE / "features.yaml",
    pages=[Page(slug="toy", title="Toy series", render=render)],
)
