"""correlations: each feature vs SOC and each feature pair across samples, per series and branch;
pixel_correlations: ESM amplitude vs current over co-registered pixels, per map pair and particle."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from schemas.marts import CORRELATIONS, PIXEL_CORRELATIONS
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
    values.insert(0, "soc_pct", meta["soc_pct"].astype(float))
    interp.insert(0, "soc_pct", False)
    groups: list[tuple[str, str, pd.Index]] = []
    for series in ["cumulative", "polished", "all"]:
        in_series = meta.index if series == "all" else meta.index[meta["series"] == series]
        for branch in ["charge", "discharge", "pooled"]:
            if branch == "pooled":
                idx = in_series
            else:  # a branch includes its 0 % / 100 % end points, which belong to both
                b = meta.loc[in_series]
                idx = b.index[(b["branch"] == branch) | (b["soc_pct"] <= 1) | (b["soc_pct"] >= 99)]
            groups.append((series, branch, idx))
    rows = []
    cols = list(values.columns)
    pairs = [("soc_pct", c) for c in cols[1:]] + list(itertools.combinations(cols[1:], 2))
    for series, branch, idx in groups:
        sub = values.loc[idx]
        for fx, fy in pairs:
            both = sub[[fx, fy]].dropna()
            n = len(both)
            if n < min_n:
                continue
            r, rho = pearson_spearman(both[fx], both[fy])
            lo, hi = bootstrap_r_ci(both[fx].to_numpy(), both[fy].to_numpy(), n_boot, rng)
            n_int = int((interp.loc[both.index, fx] | interp.loc[both.index, fy]).sum())
            rows.append({"series": series, "branch": branch, "feature_x": fx, "feature_y": fy, "n": n,
                         "pearson_r": r, "spearman_rho": rho, "ci_low": lo, "ci_high": hi,
                         "n_interpolated": n_int, "samples": ",".join(sorted(both.index))})
    return pd.DataFrame(rows)


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
    from warehouse.marts.profile import samples_frame

    profile = wh.query(f"select * from soc_profile where params_id = '{params_id}'")
    samples = samples_frame(wh)
    corr = compute(profile, samples, int(params["bootstrap"]["n_resamples"]), int(params["bootstrap"]["seed"]),
                   int(params["correlations"]["min_samples"]))
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
    return {"correlations": len(corr), "pixel_correlations": len(pix)}
