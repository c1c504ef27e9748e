"""findings: the seven claims of SCIENCE.md as executable checks on the warehouse.

Each check states its query, the statistic, what is expected, a verdict and why, and carries its
evidence rows with their lineage (raw files and parameter sets), so a failed check says what to
look at. Thresholds live in the marts parameter set (warehouse/marts/params.yaml).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from schemas.marts import FINDINGS
from warehouse.faults import fault_point
from warehouse.marts.stats import pearson_spearman
from warehouse.store import Warehouse

TITLES = {
    1: "Mean ESM amplitude falls as SOC rises; pristine highest; distributions narrow with charge",
    2: "At 0 % SOC the ESM amplitude is higher at particle rims than in cores; the gradient fades with SOC",
    3: "Ni2+ falls with SOC in TEY and FY; surface (TEY) > bulk (FY) at 0 %; O K pre-edge grows with SOC",
    4: "a decreases with SOC; c rises to ~90 % SOC then drops; c microstrain grows, sharply above 90 %",
    5: "D increases with SOC and drops at the end of charge",
    6: "Mean C-AFM current and conductive area fall with SOC; matrix carries most current; rim > centre",
    7: "Diffusion length per ESM cycle sqrt(D/f) is far below a lattice constant",
}


@dataclass
class Check:
    claim: int
    check_name: str
    query: str
    statistic: float
    statistic_name: str
    expected: str
    passed: bool
    why: str
    evidence: pd.DataFrame


class Evidence:
    """Access to soc_profile rows by feature, with their lineage, for the checks."""

    def __init__(self, wh: Warehouse, params_id: str):
        self.wh = wh
        self.params_id = params_id
        self.profile = wh.query("select * from soc_profile where params_id = ?", [params_id])
        self.lineage = wh.query("select l.profile_key, l.raw_sha256, r.original_name from soc_profile_lineage l "
                                "left join raw_files r using (raw_sha256) where l.params_id = ?", [params_id])

    def sql(self, technique: str, mode: str | None, feature: str, where: str = "") -> str:
        m = f"mode = '{mode}'" if mode else "mode is null"
        return (f"select sample_id, series, branch, soc_pct, mean, std, n, ci_low, ci_high, interpolated, profile_key "
                f"from soc_profile where params_id = '{self.params_id}' and technique = '{technique}' and {m} "
                f"and feature = '{feature}'{(' and ' + where) if where else ''} order by series, soc_pct")

    def rows(self, technique: str, mode: str | None, feature: str, interpolated: bool = False) -> pd.DataFrame:
        p = self.profile
        sel = (p.technique == technique) & (p.feature == feature) & (p.interpolated == interpolated)
        sel &= (p["mode"] == mode) if mode else p["mode"].isna()
        return p[sel].sort_values(["series", "soc_pct"])

    def with_lineage(self, rows: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for r in rows.itertuples():
            files = self.lineage[self.lineage.profile_key == r.profile_key]
            out.append({"sample_id": r.sample_id, "series": r.series, "branch": r.branch,
                        "soc_pct": None if pd.isna(r.soc_pct) else round(float(r.soc_pct), 2),
                        "mean": None if pd.isna(r.mean) else float(r.mean), "n": int(r.n),
                        "interpolated": bool(r.interpolated), "profile_key": r.profile_key,
                        "raw_sha256": sorted(files.raw_sha256.unique().tolist())[:50],
                        "n_raw_files": int(files.raw_sha256.nunique())})
        return out


def charge_path(rows: pd.DataFrame) -> pd.DataFrame:
    """Samples on the way up: charge branch plus a fully discharged (0 %) non-pristine start point."""
    return rows[(rows.branch == "charge") | ((rows.branch == "discharge") & (rows.soc_pct <= 5))]


def discharge_path(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows.branch == "discharge") | ((rows.branch == "charge") & (rows.soc_pct >= 95))]


def _trend(ev: Evidence, claim: int, name: str, tech: str, mode: str | None, feature: str, series: str,
           path: Callable[[pd.DataFrame], pd.DataFrame] | None, sign: int, min_n: int = 3) -> Check:
    """Spearman rho of the feature against SOC over samples of a series (and path), expected sign."""
    rows = ev.rows(tech, mode, feature)
    rows = rows[(rows.series == series) & (rows.branch != "pristine")]
    if path is not None:
        rows = path(rows)
    r, rho = pearson_spearman(rows.soc_pct.to_numpy(), rows["mean"].to_numpy())
    ok = len(rows) >= min_n and np.isfinite(rho) and np.sign(rho) == sign and abs(rho) >= 0.5
    word = "falls" if sign < 0 else "rises"
    desc = ", ".join(f"{s}@{p:.0f}%={m:.3g}" for s, p, m in zip(rows.sample_id, rows.soc_pct, rows["mean"]))
    why = (f"{feature} {'does' if ok else 'does not'} {word[:-1]} with SOC in {series}"
           f"{' (' + path.__name__.replace('_', ' ') + ')' if path else ''}: Spearman rho = {rho:.2f} over "
           f"{len(rows)} samples [{desc}]")
    return Check(claim, name, ev.sql(tech, mode, feature, f"series = '{series}' and not interpolated"), rho,
                 "spearman_rho", f"rho {'<' if sign < 0 else '>'} 0 (|rho| >= 0.5), n >= {min_n}", bool(ok), why,
                 rows)


def _compare(ev: Evidence, claim: int, name: str, rows_a: pd.DataFrame, rows_b: pd.DataFrame, label: str,
             sql: str) -> Check:
    a = float(rows_a["mean"].mean()) if len(rows_a) else np.nan
    b = float(rows_b["mean"].mean()) if len(rows_b) else np.nan
    ok = np.isfinite(a) and np.isfinite(b) and a > b
    return Check(claim, name, sql, a - b, "difference", f"{label}: first > second", bool(ok),
                 f"{label}: {a:.4g} vs {b:.4g} ({'as expected' if ok else 'NOT as expected'})",
                 pd.concat([rows_a, rows_b]))


F = {  # feature keys: technique, mode, feature (as declared in features.yaml)
    "esm": ("afm", "ESM", "esm_all_mean"),
    "esm_particles": ("afm", "ESM", "esm_particles_mean"),
    "esm_cv": ("afm", "ESM", "esm_particles_cv"),
    "esm_rim_core": ("afm", "ESM", "esm_rim_core_ratio"),
    "crf": ("afm", "ESM", "crf_particles_mean"),
    "current": ("afm", "CAFM", "current_all_mean"),
    "current_particles": ("afm", "CAFM", "current_particles_mean"),
    "current_matrix": ("afm", "CAFM", "current_matrix_mean"),
    "conductive_particles": ("afm", "CAFM", "conductive_area_fraction_particles"),
    "current_rim_core": ("afm", "CAFM", "current_rim_core_ratio"),
    "ni2_tey": ("nexafs", "TEY", "ni2_fraction"),
    "ni2_fy": ("nexafs", "FY", "ni2_fraction"),
    "ok_tey": ("nexafs", "TEY", "ok_preedge_intensity"),
    "ok_fy": ("nexafs", "FY", "ok_preedge_intensity"),
    "a": ("sxpd", None, "a"),
    "c": ("sxpd", None, "c"),
    "strain_c": ("sxpd", None, "microstrain_00l"),
    "d": ("echem", "GITT", "d"),
}


def claim1(ev: Evidence, p: dict) -> list[Check]:
    checks = [_trend(ev, 1, "esm_vs_soc_cumulative_charge", *F["esm"], "cumulative", charge_path, -1),
              _trend(ev, 1, "esm_vs_soc_cumulative_discharge", *F["esm"], "cumulative", discharge_path, -1),
              _trend(ev, 1, "esm_vs_soc_polished", *F["esm_particles"], "polished", None, -1)]
    rows = ev.rows(*F["esm"])
    cum = rows[rows.series == "cumulative"]
    pri, rest = cum[cum.branch == "pristine"], cum[cum.branch != "pristine"]
    checks.append(_compare(ev, 1, "pristine_highest", pri, rest.nlargest(1, "mean"),
                           "pristine ESM vs the highest cycled sample", ev.sql(*F["esm"], "series = 'cumulative'")))
    checks.append(_trend(ev, 1, "distribution_narrows_with_charge", *F["esm_cv"], "polished", None, -1))
    return checks


def claim2(ev: Evidence, p: dict) -> list[Check]:
    rows = ev.rows(*F["esm_rim_core"])
    rows = rows[rows.series == "polished"]
    low, high = rows[rows.soc_pct <= 5], rows[rows.soc_pct >= 95]
    c = [_compare(ev, 2, "rim_core_ratio_0_vs_100", low, high, "ESM rim/core ratio at 0 % vs 100 % SOC",
                  ev.sql(*F["esm_rim_core"], "series = 'polished'"))]
    r0 = float(low["mean"].mean()) if len(low) else np.nan
    c.append(Check(2, "rim_above_core_at_0", ev.sql(*F["esm_rim_core"], "soc_pct <= 5"), r0, "rim_core_ratio",
                   "> 1 at 0 % SOC", bool(np.isfinite(r0) and r0 > 1), f"rim/core ESM ratio at 0 % SOC = {r0:.3f}", low))
    return c


def claim3(ev: Evidence, p: dict) -> list[Check]:
    c = [_trend(ev, 3, "ni2_tey_falls", *F["ni2_tey"], "polished", None, -1),
         _trend(ev, 3, "ni2_fy_falls", *F["ni2_fy"], "polished", None, -1),
         _trend(ev, 3, "ok_preedge_rises_tey", *F["ok_tey"], "polished", None, +1)]
    tey, fy = ev.rows(*F["ni2_tey"]), ev.rows(*F["ni2_fy"])
    c.append(_compare(ev, 3, "tey_above_fy_at_0", tey[tey.soc_pct <= 5], fy[fy.soc_pct <= 5],
                      "Ni2+ fraction TEY vs FY at 0 % SOC", ev.sql(*F["ni2_tey"], "soc_pct <= 5")))
    return c


def _operando(ev: Evidence, key: str, branch: str = "charge") -> pd.DataFrame:
    rows = ev.rows(*F[key])
    return rows[(rows.series == "operando") & (rows.branch == branch)].sort_values("soc_pct")


def claim4(ev: Evidence, p: dict) -> list[Check]:
    a, c, s = _operando(ev, "a"), _operando(ev, "c"), _operando(ev, "strain_c")
    checks = []
    _, rho = pearson_spearman(a.soc_pct, a["mean"])
    checks.append(Check(4, "a_falls_on_charge", ev.sql(*F["a"], "series = 'operando' and branch = 'charge'"), rho,
                        "spearman_rho", "< -0.9", bool(np.isfinite(rho) and rho < -0.9),
                        f"a vs SOC on charge: Spearman rho = {rho:.3f} over {len(a)} SOC bins", a))
    peak = float(c.soc_pct.iloc[int(np.argmax(c["mean"].to_numpy()))]) if len(c) else np.nan
    lo, hi = p["findings"]["c_peak_soc_range_pct"]
    checks.append(Check(4, "c_peaks_before_end_of_charge", ev.sql(*F["c"], "series = 'operando' and branch = 'charge'"),
                        peak, "soc_of_max_c_pct", f"between {lo} and {hi} % SOC", bool(np.isfinite(peak) and lo <= peak <= hi),
                        f"c is largest at {peak:.0f} % SOC on charge", c))
    groups = [s[s.soc_pct <= 10], s[(s.soc_pct >= 85) & (s.soc_pct <= 92)], s[s.soc_pct >= 97]]
    if all(len(g) for g in groups):
        (x0, y0), (x1, y1), (x2, y2) = [(g.soc_pct.mean(), g["mean"].mean()) for g in groups]
        slope_lo, slope_hi = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
        sharp = slope_hi / slope_lo if slope_lo > 0 else np.nan
    else:
        y0 = y1 = y2 = slope_lo = slope_hi = sharp = np.nan
    checks.append(Check(4, "strain_jumps_above_90", ev.sql(*F["strain_c"], "series = 'operando'"), sharp,
                        "slope_90_100_over_slope_0_90", "> 2 (strain grows with SOC, sharply between 90 and 100 %)",
                        bool(np.isfinite(sharp) and y2 > y1 > y0 and sharp > 2),
                        f"c microstrain {y0:.3g} (0 %) -> {y1:.3g} (~90 %) -> {y2:.3g} (100 %): "
                        f"{slope_hi:.2g} %/% above 90 % vs {slope_lo:.2g} %/% below", s))
    return checks


def claim5(ev: Evidence, p: dict) -> list[Check]:
    rows = ev.rows(*F["d"])
    rows = rows[(rows.series == "gitt") & (rows.branch == "charge")].sort_values("soc_pct")
    logd = np.log10(rows["mean"].to_numpy(float)) if len(rows) else np.array([])
    body = rows[rows.soc_pct <= 85]
    _, rho = pearson_spearman(body.soc_pct, np.log10(body["mean"].to_numpy(float))) if len(body) >= 3 else (np.nan, np.nan)
    checks = [Check(5, "d_rises_with_soc", ev.sql(*F["d"], "series = 'gitt' and soc_pct <= 85"), rho, "spearman_rho",
                    "> 0.5 up to 85 % SOC", bool(np.isfinite(rho) and rho > 0.5),
                    f"log D vs SOC up to 85 %: Spearman rho = {rho:.2f} over {len(body)} bins", body)]
    if len(rows):
        peak = rows.iloc[int(np.argmax(logd))]
        end = rows[rows.soc_pct >= 95]
        drop = float(np.log10(peak["mean"]) - np.log10(end["mean"].mean())) if len(end) else np.nan
    else:
        drop, peak = np.nan, None
    checks.append(Check(5, "d_drops_at_end_of_charge", ev.sql(*F["d"], "series = 'gitt' and soc_pct >= 95"), drop,
                        "log10_drop_from_max", "> 0.1 decades", bool(np.isfinite(drop) and drop > 0.1),
                        f"D at >= 95 % SOC is {drop:.2f} decades below its maximum"
                        + (f" (at {peak.soc_pct:.0f} %)" if peak is not None else ""), rows))
    return checks


def claim6(ev: Evidence, p: dict) -> list[Check]:
    checks = [_trend(ev, 6, "current_vs_soc_cumulative_charge", *F["current"], "cumulative", charge_path, -1),
              _trend(ev, 6, "current_vs_soc_cumulative_discharge", *F["current"], "cumulative", discharge_path, -1),
              _trend(ev, 6, "current_vs_soc_polished", *F["current_particles"], "polished", None, -1),
              _trend(ev, 6, "conductive_area_of_particles_vs_soc_polished", *F["conductive_particles"], "polished",
                     None, -1)]
    m, q = ev.rows(*F["current_matrix"]), ev.rows(*F["current_particles"])
    checks.append(_compare(ev, 6, "matrix_carries_current_cumulative", m[m.series == "cumulative"],
                           q[q.series == "cumulative"], "mean current of matrix vs particles (cumulative)",
                           ev.sql(*F["current_matrix"], "series = 'cumulative'")))
    rc = ev.rows(*F["current_rim_core"])
    rc = rc[rc.series == "polished"]
    val = float(rc["mean"].mean()) if len(rc) else np.nan
    checks.append(Check(6, "current_rim_above_centre", ev.sql(*F["current_rim_core"], "series = 'polished'"), val,
                        "rim_core_ratio", "> 1", bool(np.isfinite(val) and val > 1),
                        f"particle current rim/core ratio (polished, mean over samples) = {val:.3f}", rc))
    return checks


def diffusion_length_nm(d_m2_s, f_hz):
    """Distance Li diffuses in one ESM excitation cycle, √(D/f), in nm (finding 7: ~0.05 nm at 320 kHz).
    It joins two techniques (D from GITT, f from the AFM contact resonance), so it lives with the claim."""
    return np.sqrt(np.asarray(d_m2_s, dtype="float64") / np.asarray(f_hz, dtype="float64")) * 1e9


def claim7(ev: Evidence, p: dict) -> list[Check]:
    d = ev.rows(*F["d"])
    d = d[(d.series == "gitt") & (d.branch == "charge") & (d.soc_pct >= 95)]
    f = ev.rows(*F["crf"])
    f = f[(f.series == "polished") & (f.soc_pct >= 95)]
    d_m2_s = float(d["mean"].mean()) if len(d) else np.nan
    f_hz = float(f["mean"].mean()) * 1e3 if len(f) else np.nan
    length_nm = float(diffusion_length_nm(d_m2_s, f_hz)) if np.isfinite(d_m2_s) and np.isfinite(f_hz) else np.nan
    a = ev.rows(*F["a"])
    a_nm = float(a["mean"].min()) / 10 if len(a) else 0.28
    limit = float(p["findings"]["diffusion_length_fraction_of_a"]) * a_nm
    ok = np.isfinite(length_nm) and length_nm < limit
    why = (f"D = {d_m2_s:.3g} m^2/s at 100 % SOC (GITT), f = {f_hz / 1e3:.1f} kHz (CRF at 100 % SOC): "
           f"sqrt(D/f) = {length_nm:.3g} nm vs lattice constant a = {a_nm:.3f} nm")
    sql = (ev.sql(*F["d"], "series = 'gitt' and soc_pct >= 95") + ";\n" + ev.sql(*F["crf"], "soc_pct >= 95"))
    return [Check(7, "diffusion_length_below_lattice", sql, length_nm, "diffusion_length_nm",
                  f"< {limit:.3f} nm ({p['findings']['diffusion_length_fraction_of_a']} x a)", bool(ok), why,
                  pd.concat([d, f]))]


CLAIMS = [claim1, claim2, claim3, claim4, claim5, claim6, claim7]


def evaluate(wh: Warehouse, params: dict, params_id: str) -> tuple[list[Check], Evidence]:
    ev = Evidence(wh, params_id)
    checks: list[Check] = []
    for fn in CLAIMS:
        checks += fn(ev, params)
    return checks, ev


def build(campaign, wh: Warehouse, run_id: str | None, params: dict, params_id: str) -> dict[str, Any]:
    checks, ev = evaluate(wh, params, params_id)
    now = pd.Timestamp.now(tz="UTC")
    rows = [{"claim": c.claim, "check_name": c.check_name, "title": TITLES[c.claim], "query": c.query,
             "statistic": float(c.statistic) if c.statistic is not None and np.isfinite(c.statistic) else None,
             "statistic_name": c.statistic_name, "expected": c.expected, "verdict": "pass" if c.passed else "fail",
             "why": c.why, "evidence": json.dumps(ev.with_lineage(c.evidence), default=str),
             "params_id": params_id, "flow_run_id": run_id, "processed_at": now} for c in checks]
    tx = wh.transaction(run_id)
    tx.put(FINDINGS, pd.DataFrame(rows, columns=FINDINGS.column_names), "mart:findings")
    fault_point("marts.findings.written")
    tx.commit()
    per_claim = pd.DataFrame(rows).groupby("claim")["verdict"].apply(lambda v: "pass" if (v == "pass").all() else "fail")
    return {"claims": per_claim.to_dict(), "checks": len(rows)}
