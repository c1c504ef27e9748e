"""Honest correlations: only pairs with enough measured points per side are ranked, trivial pairs never.

Constructed data (hand-made profiles, expected values from the construction): a feature measured at two
SOC points and interpolated linearly to the others correlates with SOC at r = 1 by construction; it must
not be ranked, must not appear in strongest_correlations, and must become a warning.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from warehouse.marts import ranking
from warehouse.marts.correlations import compute
from warehouse.queries import load_query

SOC = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
IDS = [f"S{i}" for i in range(len(SOC))]


def _samples() -> pd.DataFrame:
    return pd.DataFrame({"sample_id": IDS, "series": "cumulative", "branch": "charge", "soc_pct": SOC})


def _rows(technique: str, feature: str, values, measured) -> list[dict]:
    return [{"sample_id": s, "series": "cumulative", "branch": "charge", "technique": technique, "mode": "M",
             "feature": feature, "mean": float(v), "interpolated": not m, "profile_key": f"{technique}{feature}{s}"}
            for s, v, m in zip(IDS, values, measured)]


@pytest.fixture(scope="module")
def marked() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    soc = np.array(SOC)
    measured_a = 3.0 - 0.02 * soc + rng.normal(0, 0.15, soc.size)           # measured everywhere, noisy
    interp_b = np.interp(soc, [0.0, 100.0], [0.6, 0.1])                      # measured at 0 and 100 % only
    measured_c = 14.2 + 0.002 * soc + rng.normal(0, 0.02, soc.size)
    profile = pd.DataFrame(_rows("afm", "esm", measured_a, [True] * 6)
                           + _rows("nexafs", "ni2", interp_b, [True, False, False, False, False, True])
                           + _rows("sxpd", "c", measured_c, [True] * 6))
    corr = compute(profile, _samples(), 200, 0, 3)
    return ranking.mark(corr, {}, 3)


def _pair(df, fx, fy):
    hit = df[(df.series == "cumulative") & (df.branch == "pooled") & (df.feature_x == fx) & (df.feature_y == fy)]
    assert len(hit) == 1, (fx, fy)
    return hit.iloc[0]


def test_an_interpolated_only_pair_at_r_1_is_not_ranked(marked):
    b = _pair(marked, "soc_pct", "nexafs:M:ni2")
    assert b.pearson_r == pytest.approx(-1.0) and b.n == 6  # r = -1 by construction (linear interpolation)
    assert (b.n_measured_x, b.n_measured_y) == (6, 2) and not b.ranked
    a = _pair(marked, "soc_pct", "afm:M:esm")
    assert (a.n_measured_x, a.n_measured_y) == (6, 6) and a.ranked


def test_strongest_correlations_leaves_the_interpolated_pair_out_and_shows_n_and_interval(marked):
    q = load_query("strongest_correlations")
    con = duckdb.connect()
    con.register("correlations", marked)
    got = con.execute(q.sql, {"min_n": "4"}).df()
    pairs = {(r.feature_x, r.feature_y) for r in got.itertuples()}
    assert not [p for p in pairs if "nexafs:M:ni2" in p], pairs
    assert ("afm:M:esm", "sxpd:M:c") in pairs and ("soc_pct", "afm:M:esm") in pairs
    assert {"n", "n_measured_x", "n_measured_y", "ci_low", "ci_high"} <= set(got.columns)
    assert (got.ci_low <= got.pearson_r + 1e-9).all() and (got.pearson_r <= got.ci_high + 1e-9).all()


def test_the_dropped_pairs_become_one_warning_per_feature(marked):
    w = ranking.interpolated_only(marked, 3)
    assert list(w.subject) == ["nexafs:M:ni2"] and (w.code == "interpolated_only_correlation").all()
    assert "at most 2 measured point(s)" in w.message.iloc[0] and "r = -1.00" in w.message.iloc[0]


@pytest.mark.parametrize("fx, fy, trivial", [
    ("sxpd::microstrain_00l", "sxpd::microstrain_hk0", True),   # two variants of one feature
    ("echem:GITT:d", "echem:GITT:d_sqrt_t", True),              # a feature and its variant
    ("sxpd::a", "sxpd::a_sigma", True),
    ("sxpd::a", "sxpd::c", False),
    ("afm:ESM:esm_all_mean", "nexafs:TEY:esm_all_mean_sigma", False),  # variants only within a technique
    ("soc_pct", "sxpd::soc_pct_x", False),
])
def test_variant_pairs(fx, fy, trivial):
    assert ranking.variant_pair(fx, fy) is trivial


def test_identical_sources_are_trivial_different_ones_are_not():
    profile = pd.DataFrame({"technique": ["afm", "afm", "afm"], "mode": ["ESM", "ESM", "CAFM"],
                            "feature": ["x", "y", "z"], "interpolated": [False] * 3, "profile_key": ["k1", "k2", "k3"]})
    lineage = pd.DataFrame({"profile_key": ["k1", "k1", "k2", "k2", "k3"],
                            "raw_sha256": ["f1", "f2", "f2", "f1", "f3"]})
    sources = ranking.feature_sources(profile, lineage)
    assert ranking.trivial_reason("afm:ESM:x", "afm:ESM:y", sources) == "identical sources (the same raw files)"
    assert ranking.trivial_reason("afm:ESM:x", "afm:CAFM:z", sources) is None
