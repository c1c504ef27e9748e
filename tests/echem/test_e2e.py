"""End to end through the lead's pipeline (intake -> raw store -> read -> process -> finalize) on the demo."""
from __future__ import annotations

import pytest


@pytest.mark.slow
def test_demo_small_through_pipeline(tmp_path):
    from socscope.demo import write_demo
    from tasks.pipeline import open_warehouse, run_local

    camp = write_demo(tmp_path / "demo", "small", techniques=["echem"])
    intake, summary = run_local(camp, techniques=["echem"])
    assert summary.quarantined == [] and summary.processed == 14
    wh = open_warehouse(camp)
    soc = wh.query("select * from sample_soc")
    # C-CH50X is labelled 50 % but its cell was never charged (the warnings demo): the only mismatch
    assert len(soc) == 14 and soc.loc[soc["soc_mismatch"], "sample_id"].tolist() == ["C-CH50X"]
    soc = soc[soc["sample_id"] != "C-CH50X"]
    labelled = soc.dropna(subset=["soc_nominal_pct"])
    assert (abs(labelled["soc_measured_pct"] - labelled["soc_nominal_pct"]) <= 2).all()
    modes = wh.query("select distinct sample_id, mode from echem_series").set_index("sample_id")["mode"]
    assert modes["G-1"] == "GITT"
    half7 = wh.query("select min(timestamp) t0 from echem_series where cell_id = 'half7'")
    assert str(half7["t0"].iloc[0]).startswith("2026-05-04 08:00:00")
    # a second run changes nothing (idempotent)
    _, again = run_local(camp, techniques=["echem"])
    assert again.processed == 0
    assert len(wh.query("select * from echem_series")) == sum(
        wh.query("select count(*) n from echem_series group by measurement_id")["n"])
