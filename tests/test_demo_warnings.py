"""Acceptance of issue 19 (warnings) on the small demo: the mislabelled sample C-CH50X (label 50 %, its
coin cell never charged after formation, tasks/demo_world.MISLABELLED_SOC_PCT) and its plain PFM map
(no Q source, Asylum's default 1 V drive) are warnings in the table, in `socscope status` and at the end
of a run. The dashboard side is tests/dashboard/test_dashboard_browser.py (campaign page)."""
from __future__ import annotations

import pandas as pd
import pytest

from socscope.cli import _report, main
from tasks import pipeline

pytestmark = pytest.mark.slow


def _truth(campaign) -> pd.DataFrame:
    """The SOC the demo generator drove each cell to (truth/, never on the share)."""
    return pd.read_csv(campaign.base_dir / "truth" / "echem" / "sample_soc_truth.csv").set_index("sample_id")


def test_the_mislabelled_sample_and_the_uncorrected_map_are_warnings(demo_campaign):
    wh = pipeline.open_warehouse(demo_campaign)
    w = wh.query("select code, sample_id, original_name, message from warnings where technique <> 'marts'")
    truth = _truth(demo_campaign).loc["C-CH50X"]
    assert truth.soc_nominal_pct == 50 and abs(truth.soc_true_pct) < 2  # what the generator did
    mismatch = w[w.code == "soc_mismatch"]
    assert list(mismatch.sample_id) == ["C-CH50X"] and list(mismatch.original_name) == ["coin6_toscat"]
    assert "labelled 50.0 %" in mismatch.message.iloc[0] and "ends at 0.0 %" in mismatch.message.iloc[0]
    esm = w[w.code == "esm_uncorrected"]
    assert list(esm.original_name) == ["C-CH50X_loc01_pfm.ibw"]
    assert "esm_not_computed_no_q_source" in esm.message.iloc[0] and "drive 1.0 V" in esm.message.iloc[0]
    # the other 14 samples are labelled within the tolerance: no other soc_mismatch
    assert set(w.sample_id[w.code == "soc_mismatch"]) == {"C-CH50X"}


def test_status_and_the_end_of_a_run_show_them(demo_campaign, capsys):
    assert main(["status", "--config", str(demo_campaign.base_dir / "campaign.yaml")]) == 0
    status = capsys.readouterr().out
    _report(pipeline.run_summary(demo_campaign, pipeline.open_warehouse(demo_campaign)),
            demo_campaign.base_dir / "campaign.yaml")
    end_of_run = capsys.readouterr().out
    for out in (status, end_of_run):
        assert "soc_mismatch: 1" in out and "esm_uncorrected: 1" in out
        assert "C-CH50X coin6_toscat: labelled 50.0 %" in out and "C-CH50X C-CH50X_loc01_pfm.ibw" in out
        assert "interpolated_only_correlation" in out
