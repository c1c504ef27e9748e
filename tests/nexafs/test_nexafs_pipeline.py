"""The demo beamtime through the real pipeline (intake -> raw store -> process -> warehouse -> SQL)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.mark.slow
def test_demo_through_pipeline_shows_finding_3_in_sql(tmp_path):
    from socscope.demo import write_demo
    from tasks.pipeline import open_warehouse, run_local

    camp = write_demo(tmp_path, "small", techniques=["nexafs"])
    _, summary = run_local(camp, techniques=["nexafs"])
    assert summary.quarantined == []
    wh = open_warehouse(camp)
    diff = wh.query("select * from nexafs_tey_fy_difference order by soc_nominal_pct")
    assert len(diff) == 5
    for mode in ("tey", "fy"):
        x = diff[f"ni2_fraction_{mode}"].to_numpy()
        assert np.all(np.diff(x) < 0), f"{mode}: {x}"
    assert diff.ni2_fraction_tey_minus_fy.iloc[0] > 0.1  # surface richer in Ni2+ at 0 % SOC
    ok = wh.query("select soc_nominal_pct, avg(ok_preedge_intensity_ev) as i from nexafs_soc_profile "
                  "group by 1 order by 1")
    assert np.all(np.diff(ok.i.to_numpy()) > 0)
    truth = pd.read_csv(tmp_path / "truth" / "nexafs" / "truth.csv")
    got = wh.query("select sample_id, mode, ni2_fraction from xas_features "
                   "where edge = 'Ni_L' and role = 'sample'")
    j = got.merge(truth[truth.edge == "Ni_L"], on=["sample_id", "mode"])
    assert len(j) == 10 and (j.ni2_fraction - j.ni2_fraction_true).abs().max() <= 0.03
