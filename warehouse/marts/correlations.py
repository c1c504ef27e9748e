"""correlations: each feature vs SOC and each feature pair across samples, per series and branch;
pixel_correlations: ESM amplitude vs current over co-registered pixels, per map pair and particle."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from schemas.marts import CORRELATIONS, PIXEL_CORRELATIONS
from warehouse.marts import ranking
from warehouse.marts.stats import bootstrap_r_ci, pearson_spearman
from warehouse.store import Warehouse


def feature_matrix(profile: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Samples x features (mean), and the same shape saying which values are interpolated."""
    p = profile[profile["series"].isin(["cumulative", "polished"]) & (profile["branch"] != "pristine")].copy()
    p["fkey"] = p["technique"] + ":" + p["mode"].fillna("") + ":" + p["feature"]
    p = p.sort_values("interpolated")  # a measured value wins over an interpolated one
    p = p.drop_duplicates(["sample_id", "fkey"], keep="first")
    values = p.pivot(index="sample_id", columns="fkey", values="mean")
    interp = p.pivot(index="sample_id", columns="fkey", values="interpolated").fillna(False).astype(bool)
    return values, interp


def compute(profile: pd.DataFrame, samples: pd.DataFrame, n_boot: int, seed: int, min_n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values, interp = feature_matrix(profile)
    if values.empty:
        return pd.DataFrame(columns=CORRELATIONS.column_names)
    meta = samples.set_index("sample_id").reindex(values.index)
    names = ["soc_pct"] + list(values.columns)
    x_all = np.column_stack([meta["soc_pct"].to_numpy(float), values.to_numpy(float)])
    i_all = np.column_stack([np.zeros(len(values), bool), interp.reindex_like(values).fillna(False).to_numpy(bool)])
    sample_ids = np.asarray(values.index)
    series_of, branch_of, soc = meta["series"].to_numpy(), meta["branch"].to_numpy(), meta["soc_pct"].to_numpy(float)
    pairs = [(0, j) for j in range(1, len(names))] + list(itertools.combinations(range(1, len(names)), 2))
    rows = []
    for series in ["cumulative", "polished", "all"]:
        in_series = np.ones(len(sample_ids), bool) if series == "all" else series_of == series
        for branch in ["charge", "discharge", "pooled"]:
            # a branch includes its 0 % / 100 % end points, which belong to both
            sel = in_series if branch == "pooled" else in_series & ((branch_of == branch) | (soc <= 1) | (soc >= 99))
            x, inter, ids = x_all[sel], i_all[sel], sample_ids[sel]
            finite = np.isfinite(x)
            for fx, fy in pairs:
                both = finite[:, fx] & finite[:, fy]
                n = int(both.sum())
                if n < min_n:
                    continue
                a, b = x[both, fx], x[both, fy]
                r, rho = pearson_spearman(a, b)
                lo, hi = bootstrap_r_ci(a, b, n_boot, rng)
                rows.append({"series": series, "branch": branch, "feature_x": names[fx], "feature_y": names[fy],
                             "n": n, "pearson_r": r, "spearman_rho": rho, "ci_low": lo, "ci_high": hi,
                             "n_interpolated": int((inter[both, fx] | inter[both, fy]).sum()),
                             "n_measured_x": int((~inter[both, fx]).sum()),
                             "n_measured_y": int((~inter[both, fy]).sum()),
                             "samples": ",".join(sorted(ids[both]))})
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=CORRELATIONS.column_names)


PIXEL_SQL = """
with p as (select * from current_afm_pairs where esm_amp_pm_per_v is not null and current_pa is not null)
select any_value(sample_id) as sample_id, pair_id, 0::BIGINT as particle_id, count(*) as n_pixels,
       corr(esm_amp_pm_per_v, current_pa) as pearson_r
from p group by pair_id
union all
select any_value(sample_id), pair_id, particle_id::BIGINT, count(*), corr(esm_amp_pm_per_v, current_pa)
from p where particle_id > 0 group by pair_id, particle_id
"""
RANK_SQL = """
with p as (select * from current_afm_pairs where esm_amp_pm_per_v is not null and current_pa is not null),
r as (select pair_id, rank() over (partition by pair_id order by esm_amp_pm_per_v) as re,
             rank() over (partition by pair_id order by current_pa) as rc from p)
select pair_id, 0::BIGINT as particle_id, corr(re, rc) as spearman_rho from r group by pair_id
"""


def pixel_correlations(wh: Warehouse) -> pd.DataFrame:
    """Pearson in SQL over every co-registered pixel; Spearman as Pearson of per-pair ranks."""
    try:
        df = wh.query(PIXEL_SQL)
        ranks = wh.query(RANK_SQL)
    except Exception as exc:
        if "does not exist" in str(exc) or "not found" in str(exc).lower():
            return pd.DataFrame(columns=PIXEL_CORRELATIONS.column_names)
        raise
    return df.merge(ranks, on=["pair_id", "particle_id"], how="left")


def build(campaign, wh: Warehouse, run_id: str | None, params: dict[str, Any], params_id: str) -> dict[str, Any]:
    """Write correlations and pixel_correlations; ``warnings`` in the result are the pairs left out of
    the ranking for too few measured points (for warehouse/warnings.py)."""
    from warehouse.marts.profile import samples_frame

    profile = wh.query("select * from soc_profile where params_id = ?", [params_id])
    lineage = wh.query("select profile_key, raw_sha256 from soc_profile_lineage where params_id = ?", [params_id])
    samples = samples_frame(wh)
    corr = compute(profile, samples, int(params["bootstrap"]["n_resamples"]), int(params["bootstrap"]["seed"]),
                   int(params["correlations"]["min_samples"]))
    min_measured = int(params["correlations"]["min_measured_per_side"])
    corr = ranking.mark(corr, ranking.feature_sources(profile, lineage), min_measured)
    now = pd.Timestamp.now(tz="UTC")
    tx = wh.transaction(run_id)
    corr["campaign"] = campaign.name
    corr["params_id"], corr["flow_run_id"], corr["processed_at"] = params_id, run_id, now
    tx.put(CORRELATIONS, corr.reindex(columns=CORRELATIONS.column_names), "mart:correlations")
    pix = pixel_correlations(wh)
    if len(pix):
        pix["campaign"] = campaign.name
        pix["params_id"], pix["flow_run_id"], pix["processed_at"] = params_id, run_id, now
        tx.put(PIXEL_CORRELATIONS, pix.reindex(columns=PIXEL_CORRELATIONS.column_names), "mart:pixel_correlations")
    else:
        tx.replace_unit("mart:pixel_correlations")
    tx.commit()
    return {"correlations": len(corr), "pixel_correlations": len(pix),
            "warnings": ranking.interpolated_only(corr, min_measured)}
