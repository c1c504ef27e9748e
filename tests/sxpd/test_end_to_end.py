"""The demo small profile through the real pipeline (echem first, then sxpd), scored against truth in SQL."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    import tasks.pipeline as sp
    from socscope.demo import write_demo

    root = tmp_path_factory.mktemp("sxpd_e2e")
    campaign = write_demo(root, "small", techniques=["echem", "sxpd"])
    # damaged files on the share must be quarantined, not stop the run
    pattern = sorted((root / "share/sxpd/O-1").glob("*.xye"))[0]
    raw = pattern.read_bytes()
    (root / "share/sxpd/O-1/i11-1599998_O-1.xye").write_bytes(raw[: len(raw) // 2].rsplit(b" ", 1)[0])
    (root / "share/sxpd/O-1/i11-1599999_O-1.nxs").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 200)

    # the Si standard (no sample) must be processed and committed before the patterns need it
    intake, summary = sp.run_local(root / "campaign.yaml", techniques=["echem", "sxpd"])
    return root, sp.open_warehouse(campaign), summary


def test_damaged_files_are_quarantined_with_reasons(warehouse) -> None:
    _, wh, summary = warehouse
    events = wh.query("select original_name, status, reason from ingest_events "
                      "where technique = 'sxpd' and stage = 'process' and status <> 'ok'")
    reasons = dict(zip(events["original_name"], events["reason"]))
    assert set(reasons) == {"i11-1599998_O-1.xye", "i11-1599999_O-1.nxs"}, reasons
    assert "truncated" in reasons["i11-1599998_O-1.xye"]
    assert "truncated" in reasons["i11-1599999_O-1.nxs"]


def test_lattice_within_tolerance_for_95_percent(warehouse) -> None:
    root, wh, _ = warehouse
    got = wh.query("select scan_number, a_angstrom, c_angstrom, wavelength_source from sxpd_patterns")
    truth = pd.read_csv(root / "truth/sxpd/patterns_truth.csv")
    both = truth.merge(got, on="scan_number", suffixes=("_true", ""))
    assert len(both) == len(truth) >= 25
    assert (both["wavelength_source"] == "calibration").all()
    ok = ((both["a_angstrom"] - both["a_angstrom_true"]).abs() <= 0.0005) & \
         ((both["c_angstrom"] - both["c_angstrom_true"]).abs() <= 0.002)
    assert ok.mean() >= 0.95


def test_finding_4_in_sql(warehouse) -> None:
    root, wh, _ = warehouse
    aligned = wh.query("select count(*) n, count(soc_pct) n_soc from sxpd_patterns_soc")
    assert aligned["n"].iloc[0] == aligned["n_soc"].iloc[0] > 0
    corr = wh.query("select corr(a_angstrom, soc_pct) r from sxpd_patterns_soc where branch = 'charge'")["r"].iloc[0]
    assert corr < -0.95
    peak = wh.query("select soc_bin_pct from sxpd_lattice_by_soc where branch = 'charge' "
                    "order by c_angstrom desc limit 1")["soc_bin_pct"].iloc[0]
    assert 80 <= peak <= 95
    # SOC of each pattern agrees with the operando program the cycler followed
    truth = pd.read_csv(root / "truth/sxpd/patterns_truth.csv")
    soc = wh.query("select scan_number, soc_pct, branch from sxpd_patterns_soc").merge(truth, on="scan_number")
    assert np.abs(soc["soc_pct_x"] - soc["soc_pct_y"]).max() < 1.0
    assert (soc["branch_x"] == soc["branch_y"]).mean() > 0.9


def test_external_refinement_joins_our_patterns(warehouse) -> None:
    _, wh, _ = warehouse
    cmp = wh.query("select * from sxpd_refinement_comparison")
    assert len(cmp) >= 3
    assert cmp["a_difference_angstrom"].abs().max() < 0.001
    assert cmp["c_difference_angstrom"].abs().max() < 0.003
