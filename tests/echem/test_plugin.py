"""process/finalize through hand-built contexts, and the tables against their contracts."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from foundation.config import parse_campaign
from foundation.contract import FinalizeContext, ProcessContext, Provenance
from foundation.parameters import load_params
from schemas.core import conform
from schemas.echem import TABLES
from tasks.echem.plugin import READERS, TECHNIQUE

SPECS = {s.name: s for s in TABLES}

CAMPAIGN = parse_campaign({
    "name": "t",
    "samples": [{"id": "S1", "series": "polished", "branch": "charge", "soc_nominal_pct": 50, "cell": "c1"},
                {"id": "S2", "series": "polished", "branch": "charge", "soc_nominal_pct": 80, "cell": "c2"}],
    "cells": [{"id": "c1", "active_mass_mg": 10, "nominal_capacity_mah_g": 100, "lower_cutoff_v": 3.0, "upper_cutoff_v": 4.3},
              {"id": "c2", "active_mass_mg": 10, "nominal_capacity_mah_g": 100, "lower_cutoff_v": 3.0, "upper_cutoff_v": 4.3}],
})


def _stamp(df: pd.DataFrame, sample: str, mid: str) -> pd.DataFrame:
    df = df.copy()
    for col, val in {"campaign": "t", "sample_id": sample, "technique": "echem", "measurement_id": mid,
                     "raw_sha256": mid * 4, "reader": "x@1", "params_id": PARAMS.id, "flow_run_id": "r",
                     "processed_at": pd.Timestamp("2026-01-01", tz="UTC")}.items():
        if col not in df:
            df[col] = val
    return df


PARAMS = load_params(TECHNIQUE.default_params)


def _measurement(tmp_path, name, hours_at_1ma):
    p = tmp_path / name
    t = np.arange(0, hours_at_1ma * 3600 + 1, 600.0)
    p.write_text("time_s,current_a,voltage_v\n" + "".join(f"{x},{0.001},{3.6 + x / 1e5:.4f}\n" for x in t))
    m = next(r for r in READERS if r.name == "generic-csv").read(p, {})
    m.provenance = Provenance(raw_sha256="a" * 64, reader="generic-csv@1", original_name=name, cell_id=name[:2])
    return m


def test_process_and_finalize(tmp_path):
    frames = {}
    for cell, sample, hours in (("c1", "S1", 0.5), ("c2", "S2", 1.0)):
        m = _measurement(tmp_path, f"{cell}.csv", hours)
        ctx = ProcessContext(campaign=CAMPAIGN, sample=CAMPAIGN.sample(sample), params=PARAMS, options={},
                             query=lambda sql, params=None: pd.DataFrame())
        out = TECHNIQUE.process(m, ctx)
        assert set(out) == {"echem_series", "echem_cycles"}
        for name, df in out.items():
            conform(SPECS[name], _stamp(df, sample, cell))  # raises on any contract violation
            frames.setdefault(name, []).append(_stamp(df, sample, cell))
    series = pd.concat(frames["echem_series"])
    # 1 mA for 0.5 h into 10 mg x 100 mAh/g = 1 mAh -> 50 %
    assert series.loc[series.cell_id == "c1", "soc_pct"].iloc[-1] == pytest.approx(50.0)
    con = duckdb.connect()
    con.register("echem_series", series)
    fin = TECHNIQUE.finalize(FinalizeContext(campaign=CAMPAIGN, params=PARAMS, query=lambda q, params=None: con.execute(q, params).df()))
    soc = fin["sample_soc"].set_index("sample_id")
    assert soc.loc["S1", "soc_measured_pct"] == pytest.approx(50.0)
    assert not soc.loc["S1", "soc_mismatch"]
    assert soc.loc["S2", "soc_measured_pct"] == pytest.approx(100.0)
    assert soc.loc["S2", "soc_mismatch"]  # 100 measured vs 80 nominal, tolerance 2
    conform(SPECS["sample_soc"], _stamp(fin["sample_soc"], None, "x"))


def test_no_cell_config_gives_null_soc(tmp_path):
    m = _measurement(tmp_path, "zz.csv", 0.5)
    ctx = ProcessContext(campaign=CAMPAIGN, sample=None, params=PARAMS, options={}, query=lambda sql, params=None: pd.DataFrame())
    out = TECHNIQUE.process(m, ctx)
    assert out["echem_series"]["soc_pct"].isna().all()
    assert out["echem_series"]["cell_id"].iloc[0] == "zz"
