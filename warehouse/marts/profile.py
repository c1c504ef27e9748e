"""soc_profile: every feature of every technique summarised per sample, with intervals and lineage.

Built incrementally: rows of a sample are recomputed only when the data files of that sample
changed (per-sample fingerprints in ``mart_state``); operando/GITT rows (own SOC per row) and the
interpolated rows are recomputed when their inputs changed.
"""
from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from schemas.marts import MART_STATE, SOC_PROFILE, SOC_PROFILE_LINEAGE
from warehouse.faults import fault_point
from warehouse.marts.features import FeatureDecl
from warehouse.marts.stats import bootstrap_mean_ci, interpolate_soc
from warehouse.store import Manifest, Warehouse, _safe

MART = "soc_profile"


def profile_key(sample_id: str, technique: str, mode: str | None, feature: str, interpolated: bool,
                soc_pct: float | None = None, branch: str | None = None) -> str:
    text = f"{sample_id}|{technique}|{mode or ''}|{feature}|{int(interpolated)}|{soc_pct}|{branch}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sample_fingerprint(manifest: Manifest, tables: set[str], sample_id: str, extra: str) -> str:
    marker = f"/sample_id={_safe(sample_id)}/"
    paths = sorted(e.path for t in tables for e in manifest.tables.get(t, []) if marker in "/" + e.path)
    return hashlib.sha256(("|".join(paths) + extra).encode()).hexdigest()


def tables_fingerprint(manifest: Manifest, tables: set[str], extra: str) -> str:
    paths = sorted(e.path for t in tables for e in manifest.tables.get(t, []))
    return hashlib.sha256(("|".join(paths) + extra).encode()).hexdigest()


def scope_fingerprints(manifest: Manifest, facts: dict[str, str], decls: list[FeatureDecl],
                       params_id: str) -> dict[str, str]:
    """The fingerprint of each scope of the profile (a sample, and 'continuous' when a feature has a SOC
    per row): the data files it reads, its sample's facts and the parameter set. A scope whose
    fingerprint equals the one in mart_state is up to date and is not rebuilt."""
    sample_tables = {d.table for d in decls if d.soc == "sample"} | {"sample_soc", "sample_config"}
    out = {sid: sample_fingerprint(manifest, sample_tables, sid, params_id + text) for sid, text in facts.items()}
    continuous = {d.table for d in decls if d.soc == "row"}
    if continuous:
        out["continuous"] = tables_fingerprint(manifest, continuous | {"sample_soc"}, params_id)
    return out


def scope_states(wh: Warehouse, manifest: Manifest, decls: list[FeatureDecl],
                 params_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(fingerprint recorded in mart_state, fingerprint at ``manifest``) of each scope: the one comparison
    that both ``build`` and the no-op check (``stale_scopes``) make, so that they cannot disagree."""
    known = {r.scope: r.fingerprint for r in wh.rows("select scope, fingerprint from mart_state where mart = ?", [MART])}
    return known, scope_fingerprints(manifest, sample_facts(wh), decls, params_id)


def stale_scopes(wh: Warehouse, decls: list[FeatureDecl], params_id: str) -> list[str]:
    """Scopes of the profile that ``build`` would rebuild now (their data, facts or parameters changed)."""
    known, fingerprints = scope_states(wh, wh.manifest(), decls, params_id)
    return [scope for scope, fp in fingerprints.items() if known.get(scope) != fp]


SAMPLES_SQL = "select sample_id, series, branch, soc_nominal_pct, soc_measured_pct, soc_pct from samples"


def samples_frame(wh: Warehouse) -> pd.DataFrame:
    """Every sample with its SOC (the nominal one unless a technique's view measures it)."""
    return wh.query(SAMPLES_SQL)


def sample_facts(wh: Warehouse) -> dict[str, str]:
    """Each sample's row of ``SAMPLES_SQL`` as its scope's fingerprint spells it, read without pandas: the
    text of the sample's rows of ``samples_frame`` (``.values.tolist()``, a NULL as nan), as recorded
    since the fingerprints began, so that an upgrade rebuilds no scope."""
    rows: dict[str, list[list[Any]]] = {}
    for r in wh.rows(SAMPLES_SQL):
        rows.setdefault(r.sample_id, []).append([math.nan if v is None else v for v in r])
    return {sid: str(values) for sid, values in rows.items()}


def group_rng(seed: int, key: tuple) -> np.random.Generator:
    """A generator for one group, seeded from the parameter set's seed and the group's key."""
    digest = hashlib.sha256(repr(tuple(str(k) for k in key)).encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def summarise(rows: pd.DataFrame, n_boot: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group long-form feature rows by (sample, technique, mode, feature[, soc bin, branch]).

    Each group's bootstrap draws come from its own generator, seeded by ``seed`` and the group's key, and
    act on its values in sorted order: an interval depends on the group's values alone, not on the
    order the rows arrived in nor on which other groups were summarised in the same call."""
    keys = ["sample_id", "technique", "mode", "feature", "unit", "observation", "soc_bin", "branch_bin"]
    out, lineage = [], []
    rows = rows.copy()
    for c in ("soc_bin", "branch_bin"):
        if c not in rows:
            rows[c] = None
    rows[["mode", "soc_bin", "branch_bin"]] = rows[["mode", "soc_bin", "branch_bin"]].astype(object)
    rows = rows.where(rows.notna(), None)
    for key, g in rows.groupby(keys, dropna=False, sort=True):
        k = dict(zip(keys, key))
        v = np.sort(g["value"].to_numpy(float))
        lo, hi = bootstrap_mean_ci(v, n_boot, group_rng(seed, key))
        pk = profile_key(k["sample_id"], k["technique"], k["mode"], k["feature"], False, k["soc_bin"], k["branch_bin"])
        out.append({**k, "profile_key": pk, "mean": float(np.mean(v)),
                    "std": float(np.std(v, ddof=1)) if v.size > 1 else np.nan, "n": int(v.size),
                    "ci_low": lo, "ci_high": hi, "interpolated": False, "source_samples": k["sample_id"]})
        for sha, n in g.groupby("raw_sha256", dropna=True).size().items():
            lineage.append({"profile_key": pk, "raw_sha256": sha, "n_observations": int(n)})
    return pd.DataFrame(out), pd.DataFrame(lineage)


def _attach_samples(prof: pd.DataFrame, samples: pd.DataFrame, campaign: str) -> pd.DataFrame:
    if prof.empty:
        return prof
    prof = prof.merge(samples, on="sample_id", how="left", suffixes=("", "_sample"))
    binned = prof["soc_bin"].notna()
    prof.loc[binned, "soc_pct"] = prof.loc[binned, "soc_bin"].astype(float)
    prof.loc[binned, "branch"] = prof.loc[binned, "branch_bin"]
    prof["campaign"] = campaign
    return prof


def _finish(prof: pd.DataFrame, params_id: str, run_id: str | None, now) -> pd.DataFrame:
    prof = prof.copy()
    prof["params_id"], prof["flow_run_id"], prof["processed_at"] = params_id, run_id, now
    for c in SOC_PROFILE.column_names:
        if c not in prof:
            prof[c] = None
    return prof[SOC_PROFILE.column_names]


def _lineage(lin: pd.DataFrame, params_id: str, run_id: str | None, now) -> pd.DataFrame:
    lin = lin.copy()
    lin["params_id"], lin["flow_run_id"], lin["processed_at"] = params_id, run_id, now
    return lin[SOC_PROFILE_LINEAGE.column_names] if len(lin) else lin


def bin_continuous(rows: pd.DataFrame, width: float) -> pd.DataFrame:
    """Operando/GITT rows carry their own SOC: bin it (centres at multiples of ``width``) per branch."""
    rows = rows.copy()
    rows["soc_bin"] = np.round(rows["row_soc_pct"].to_numpy(float) / width) * width
    rows["branch_bin"] = rows["row_branch"].fillna("charge")
    return rows[np.isfinite(rows["soc_bin"].to_numpy(float))]


def interpolate_rows(profile: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Values of a feature at the SOC points of samples that lack it, flagged as interpolated.

    Within a series, a feature measured at >= 2 SOC points of a branch is interpolated to the other
    samples of that series and branch (e.g. NEXAFS at 27/55/83 % to ESM at 50 %). Operando and GITT
    features (binned per branch) are interpolated to the samples of every other series.
    Never extrapolated.
    """
    direct = profile[~profile["interpolated"].astype(bool)]
    out = []
    targets = samples[samples["branch"].isin(["charge", "discharge"]) & samples["soc_pct"].notna()]
    for (tech, mode, feature), g in direct.groupby(["technique", "mode", "feature"], dropna=False, sort=True):
        have = set(g["sample_id"])
        continuous = g["soc_bin_src"].notna().any() if "soc_bin_src" in g else False
        for _, t in targets.iterrows():
            if t.sample_id in have:
                continue
            if continuous:
                src = g[g["soc_bin_src"].notna()]
            else:
                src = g[(g["series"] == t.series) & g["soc_bin_src"].isna()] if "soc_bin_src" in g else g[g["series"] == t.series]
                src = src[src["branch"] != "pristine"]
            if src.empty:
                continue
            same = src[src["branch"] == t.branch]
            # a fully discharged (0 %) or fully charged point belongs to both branches
            ends = src[(src["soc_pct"] <= 1) | (src["soc_pct"] >= 99)]
            use = pd.concat([same, ends]).drop_duplicates("profile_key")
            if use["soc_pct"].nunique() < 2:
                use = src
            if use["soc_pct"].nunique() < 2:
                continue
            val = interpolate_soc(use["soc_pct"].to_numpy(), use["mean"].to_numpy(), np.array([t.soc_pct]))[0]
            if not np.isfinite(val):
                continue
            unit = g["unit"].iloc[0]
            out.append({"sample_id": t.sample_id, "technique": tech, "mode": mode, "feature": feature, "unit": unit,
                        "observation": g["observation"].iloc[0], "mean": float(val), "std": np.nan,
                        "n": int(use["n"].sum()), "ci_low": np.nan, "ci_high": np.nan, "interpolated": True,
                        "source_samples": ",".join(sorted(set(use["sample_id"]))),
                        "series": t.series, "branch": t.branch, "soc_nominal_pct": t.soc_nominal_pct,
                        "soc_measured_pct": t.soc_measured_pct, "soc_pct": t.soc_pct,
                        "profile_key": profile_key(t.sample_id, tech, mode, feature, True),
                        "_sources": list(use["profile_key"])})
    return pd.DataFrame(out)


#: samples whose feature rows are read and summarised together: the long-form rows of a batch are in memory
#: at once, never a whole campaign's (each group's interval depends on its own values only: the same result)
SAMPLES_PER_BATCH = 32


def build(campaign, wh: Warehouse, run_id: str | None, decls: list[FeatureDecl], params: dict[str, Any],
          params_id: str, force: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    manifest = wh.manifest()
    known, fingerprints = scope_states(wh, manifest, decls, params_id)
    samples = samples_frame(wh)
    n_boot, seed = int(params["bootstrap"]["n_resamples"]), int(params["bootstrap"]["seed"])
    now = pd.Timestamp.now(tz="UTC")
    per_sample = [d for d in decls if d.soc == "sample"]
    continuous = [d for d in decls if d.soc == "row"]
    tx = wh.transaction(run_id)
    states, rebuilt = [], []
    cont_fp = fingerprints.pop("continuous", None)
    changed = {sid: fp for sid, fp in fingerprints.items() if force or known.get(sid) != fp}
    con = wh.connect(manifest)
    try:
        ids = list(changed)
        for start in range(0, len(ids), SAMPLES_PER_BATCH):  # a batch of samples' feature rows in memory at a time
            batch, ts = ids[start:start + SAMPLES_PER_BATCH], time.perf_counter()
            rows = _feature_rows(con, per_sample, batch)
            prof, lin = summarise(rows, n_boot, seed) if len(rows) else (pd.DataFrame(), pd.DataFrame())
            prof = _attach_samples(prof, samples, campaign.name)
            for sid in batch:
                unit = f"mart:{MART}:{sid}"
                tx.replace_unit(unit)
                mine = prof[prof.sample_id == sid] if len(prof) else prof
                if len(mine):
                    tx.put(SOC_PROFILE, _finish(mine, params_id, run_id, now), unit)
                    tx.put(SOC_PROFILE_LINEAGE, _lineage(lin[lin.profile_key.isin(mine.profile_key)], params_id, run_id, now), unit)
                states.append({"mart": MART, "scope": sid, "fingerprint": changed[sid], "built_at": now,
                               "seconds": (time.perf_counter() - ts) / len(batch)})
                rebuilt.append(sid)
            del rows, prof, lin
        fp = cont_fp
        if continuous and (force or known.get("continuous") != fp):
            ts = time.perf_counter()
            rows = _feature_rows(con, continuous, None)
            unit = f"mart:{MART}:continuous"
            tx.replace_unit(unit)
            if len(rows):
                rows = bin_continuous(rows, float(params["interpolation"]["continuous_bin_pct"]))
                prof, lin = summarise(rows, n_boot, seed)
                prof = _attach_samples(prof, samples, campaign.name)
                tx.put(SOC_PROFILE, _finish(prof, params_id, run_id, now), unit)
                tx.put(SOC_PROFILE_LINEAGE, _lineage(lin, params_id, run_id, now), unit)
            states.append({"mart": MART, "scope": "continuous", "fingerprint": fp, "built_at": now,
                           "seconds": time.perf_counter() - ts})
            rebuilt.append("continuous")
    finally:
        con.close()
    if not rebuilt:
        return {"rebuilt": [], "seconds": round(time.perf_counter() - t0, 3)}
    fault_point("marts.profile.written")
    tx.commit()
    # the fingerprints are committed with the interpolated rows, last: a run killed before that
    # commit leaves the old fingerprints, so the next run builds these samples again
    _rebuild_interpolated(campaign, wh, run_id, params_id, samples, now, pd.DataFrame(states))
    return {"rebuilt": rebuilt, "seconds": round(time.perf_counter() - t0, 3)}


def _feature_rows(con, decls: list[FeatureDecl], samples: list[str] | None) -> pd.DataFrame:
    """Long-form rows of every declared feature (one query each); techniques not installed are skipped."""
    frames = []
    for d in decls:
        try:
            frames.append(con.execute(d.sql(samples), None if samples is None else [list(samples)]).df())
        except Exception as exc:
            if "does not exist" in str(exc):
                continue
            raise
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _rebuild_interpolated(campaign, wh: Warehouse, run_id, params_id, samples, now, states: pd.DataFrame) -> None:
    prof = wh.query("select * from soc_profile where params_id = ? and not interpolated", [params_id])
    if prof.empty:
        tx = wh.transaction(run_id)
        tx.upsert(MART_STATE, states, keep="new")
        tx.commit()
        return
    # binned operando/GITT rows: their sample's series differs from the targets'
    cont = prof["sample_id"].isin(samples.loc[samples["series"].isin(["operando", "gitt"]), "sample_id"])
    prof["soc_bin_src"] = np.where(cont, prof["soc_pct"], np.nan)
    interp = interpolate_rows(prof, samples)
    tx = wh.transaction(run_id)
    unit = f"mart:{MART}:interpolated"
    tx.replace_unit(unit)
    if len(interp):
        interp["campaign"] = campaign.name
        lin = wh.query("select profile_key, raw_sha256, n_observations from soc_profile_lineage "
                       "where params_id = ?", [params_id])
        src = interp[["profile_key", "_sources"]].explode("_sources").rename(columns={"_sources": "source_key"})
        lin = src.merge(lin, left_on="source_key", right_on="profile_key", suffixes=("", "_src"))
        lin = lin.groupby(["profile_key", "raw_sha256"], as_index=False)["n_observations"].sum()
        tx.put(SOC_PROFILE, _finish(interp.drop(columns="_sources"), params_id, run_id, now), unit)
        tx.put(SOC_PROFILE_LINEAGE, _lineage(lin, params_id, run_id, now), unit)
    tx.upsert(MART_STATE, states, keep="new")
    fault_point("marts.interpolated.written")
    tx.commit()
