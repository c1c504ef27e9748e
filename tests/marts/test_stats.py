"""Statistics of the marts against hand calculations."""
import math

import numpy as np
import pandas as pd
import pytest

from warehouse.marts.correlations import compute
from warehouse.marts.findings import diffusion_length_nm
from warehouse.marts.stats import bootstrap_mean_ci, bootstrap_r_ci, interpolate_soc, pearson_spearman


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(10, 2, 10)
    large = rng.normal(10, 2, 1000)
    lo_s, hi_s = bootstrap_mean_ci(small, 2000, np.random.default_rng(1))
    lo_l, hi_l = bootstrap_mean_ci(large, 2000, np.random.default_rng(1))
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    # the 95 % interval of a mean is about +-1.96 sigma/sqrt(n)
    assert (hi_l - lo_l) == pytest.approx(2 * 1.96 * large.std(ddof=1) / np.sqrt(1000), rel=0.15)
    assert (hi_s - lo_s) > 3 * (hi_l - lo_l)
    assert bootstrap_mean_ci(np.array([3.0]), 10, rng) == (3.0, 3.0)


def test_pearson_and_spearman_by_hand():
    x = np.array([0.0, 50.0, 100.0, 27.0])
    y = np.array([8.0, 6.0, 4.0, 7.0])
    r, rho = pearson_spearman(x, y)
    xm, ym = x - x.mean(), y - y.mean()
    assert r == pytest.approx((xm * ym).sum() / np.sqrt((xm**2).sum() * (ym**2).sum()))
    assert rho == pytest.approx(-1.0)
    lo, hi = bootstrap_r_ci(x, y, 500, np.random.default_rng(0))
    assert -1.0 <= lo <= hi <= -0.9


def test_interpolation_is_linear_and_never_extrapolates():
    got = interpolate_soc(np.array([27, 55, 83]), np.array([0.42, 0.27, 0.12]), np.array([50.0, 10.0, 90.0, 27.0]))
    assert got[0] == pytest.approx(0.42 + (0.27 - 0.42) * (50 - 27) / (55 - 27))
    assert np.isnan(got[1]) and np.isnan(got[2]) and got[3] == pytest.approx(0.42)
    # duplicates of one SOC are averaged
    assert interpolate_soc(np.array([0, 0, 100]), np.array([1.0, 3.0, 4.0]), np.array([50.0]))[0] == pytest.approx(3.0)


def test_correlations_per_series_and_branch_flag_interpolated_points():
    samples = pd.DataFrame({"sample_id": ["A", "B", "C", "D"], "series": ["polished"] * 4,
                            "branch": ["discharge", "charge", "charge", "discharge"],
                            "soc_pct": [0.0, 50.0, 100.0, 50.0]})
    rows = []
    for s, soc, esm, ni, ni_interp in [("A", 0, 10, 0.6, False), ("B", 50, 6, 0.3, True),
                                        ("C", 100, 4, 0.05, False), ("D", 50, 6.5, 0.33, True)]:
        rows.append({"sample_id": s, "series": "polished", "branch": samples.set_index("sample_id").branch[s],
                     "technique": "afm", "mode": "ESM", "feature": "esm", "mean": esm, "interpolated": False})
        rows.append({"sample_id": s, "series": "polished", "branch": samples.set_index("sample_id").branch[s],
                     "technique": "nexafs", "mode": "TEY", "feature": "ni2", "mean": ni, "interpolated": ni_interp})
    out = compute(pd.DataFrame(rows), samples, 200, 0, 3)
    pooled = out[(out.series == "polished") & (out.branch == "pooled") & (out.feature_x == "afm:ESM:esm")
                 & (out.feature_y == "nexafs:TEY:ni2")].iloc[0]
    assert pooled.n == 4 and pooled.n_interpolated == 2
    assert pooled.pearson_r == pytest.approx(np.corrcoef([10, 6, 4, 6.5], [0.6, 0.3, 0.05, 0.33])[0, 1])
    charge = out[(out.series == "polished") & (out.branch == "charge") & (out.feature_x == "soc_pct")
                 & (out.feature_y == "afm:ESM:esm")].iloc[0]
    assert charge.samples == "A,B,C"  # the charge branch includes its 0 % start point


def test_diffusion_length_finding7():
    # 1e3 nm²/s = 1e-15 m²/s at 320 kHz: sqrt(1e3/3.2e5) nm = 0.0559 nm
    assert diffusion_length_nm(1e-15, 320e3) == pytest.approx(math.sqrt(1e3 / 3.2e5), rel=1e-12)


def test_a_profile_interval_depends_on_its_group_alone():
    """The same values give the same interval whatever their row order and whatever other groups are
    summarised with them (two runs of one campaign gave different intervals when rows came in another order)."""
    import pandas as pd

    from warehouse.marts.profile import summarise

    rng = np.random.default_rng(1)
    rows = pd.DataFrame({"sample_id": ["S1"] * 10 + ["S2"] * 10, "technique": "toy", "mode": "A", "feature": "y",
                         "unit": "V", "observation": "point", "value": rng.normal(size=20),
                         "raw_sha256": ["a"] * 10 + ["b"] * 10})
    together, _ = summarise(rows, 500, 7)
    shuffled, _ = summarise(rows.sample(frac=1, random_state=3), 500, 7)
    alone, _ = summarise(rows[rows.sample_id == "S2"], 500, 7)
    cols = ["sample_id", "mean", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(together[cols], shuffled[cols])
    pd.testing.assert_frame_equal(together[cols].iloc[[1]].reset_index(drop=True), alone[cols])
    assert together.ci_low.iloc[0] < together["mean"].iloc[0] < together.ci_high.iloc[0]
