"""Which correlations may be ranked: enough measured points on each side, and not a trivial pair.

A pair whose points are mostly interpolated along SOC correlates by construction (interpolation is
linear in SOC, so two interpolated features give r = ±1); a feature against its own variant (x and
x_sigma, microstrain_00l and microstrain_hk0, d and d_sqrt_t) or two features computed from exactly
the same raw files say nothing about the material. Such pairs stay in the `correlations` mart (with
the reason) but `strongest_correlations` and the dashboard do not rank them; pairs left out for too
few measured points become `interpolated_only_correlation` warnings.
"""
from __future__ import annotations

import pandas as pd


def _name(fkey: str) -> tuple[str, str]:
    """(technique, feature name) of a ``technique:mode:feature`` key (soc_pct: ("", "soc_pct"))."""
    parts = fkey.split(":")
    return (parts[0], parts[-1]) if len(parts) == 3 else ("", fkey)


def variant_pair(fx: str, fy: str) -> bool:
    """One feature of a technique and its own variant: one name extends the other (x, x_sigma; d,
    d_sqrt_t) or both extend one stem by a last word (microstrain_00l, microstrain_hk0)."""
    (tx, nx), (ty, ny) = _name(fx), _name(fy)
    if not tx or tx != ty or nx == ny:
        return False
    if nx.startswith(ny + "_") or ny.startswith(nx + "_"):
        return True
    return "_" in nx and "_" in ny and nx.rsplit("_", 1)[0] == ny.rsplit("_", 1)[0]


def feature_sources(profile: pd.DataFrame, lineage: pd.DataFrame) -> dict[str, frozenset[str]]:
    """technique:mode:feature -> the raw files behind its measured (not interpolated) values."""
    p = profile[~profile["interpolated"].astype(bool)]
    fkey = p["technique"] + ":" + p["mode"].fillna("") + ":" + p["feature"]
    files = lineage.merge(pd.DataFrame({"profile_key": p["profile_key"], "fkey": fkey}), on="profile_key")
    return {k: frozenset(g["raw_sha256"]) for k, g in files.groupby("fkey")}


def trivial_reason(fx: str, fy: str, sources: dict[str, frozenset[str]]) -> str | None:
    """Why a pair is trivial, or None."""
    if variant_pair(fx, fy):
        return "a feature and its own variant"
    sx, sy = sources.get(fx), sources.get(fy)
    if sx and sx == sy:
        return "identical sources (the same raw files)"
    return None


def mark(corr: pd.DataFrame, sources: dict[str, frozenset[str]], min_measured: int) -> pd.DataFrame:
    """``corr`` with ``trivial`` (reason or None) and ``ranked`` (enough measured points, not trivial)."""
    out = corr.copy()
    out["trivial"] = [trivial_reason(x, y, sources) for x, y in zip(out["feature_x"], out["feature_y"])]
    enough = (out["n_measured_x"] >= min_measured) & (out["n_measured_y"] >= min_measured)
    out["ranked"] = enough & out["trivial"].isna()
    return out


def interpolated_only(corr: pd.DataFrame, min_measured: int) -> pd.DataFrame:
    """Warnings (warehouse/warnings.py rows), one per feature whose pooled, non-trivial pairs were left
    out of the ranking because that feature has too few measured points: its r rests on values
    interpolated along SOC. The pairs themselves stay queryable (correlations where not ranked)."""
    dropped = corr[(corr["branch"] == "pooled") & corr["trivial"].isna() & ~corr["ranked"].astype(bool)]
    sides = pd.concat([
        dropped.rename(columns={"feature_x": "feature", "feature_y": "other", "n_measured_x": "n_measured"}),
        dropped.rename(columns={"feature_y": "feature", "feature_x": "other", "n_measured_y": "n_measured"})])
    sides = sides[sides["n_measured"] < min_measured]
    rows = []
    for feature, g in sides.groupby("feature", sort=True):
        top = g.loc[g["pearson_r"].abs().fillna(-1).idxmax()] if g["pearson_r"].notna().any() else g.iloc[0]
        rows.append({"technique": "marts", "code": "interpolated_only_correlation", "sample_id": None,
                     "raw_sha256": None, "subject": feature,
                     "message": (f"{feature}: {len(g)} correlation(s) not ranked: at most {int(g['n_measured'].max())} "
                                 f"measured point(s), the rest interpolated along SOC (needs {min_measured}, marts "
                                 f"correlations.min_measured_per_side); strongest left out: r = {top['pearson_r']:.2f} "
                                 f"with {top['other']} ({top['series']}, n = {int(top['n'])})")})
    return pd.DataFrame(rows, columns=["technique", "code", "sample_id", "raw_sha256", "subject", "message"])
