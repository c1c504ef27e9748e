"""NEXAFS technique plugin: readers, tables, process (the chain + features) and the demo."""
from __future__ import annotations

import contextlib
import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foundation.contract import (
    Measurement,
    Page,
    ProcessContext,
    Technique,
    UnreadableFile,
)
from schemas.nexafs import ROLES, TABLES
from tasks.nexafs import chain
from tasks.nexafs.absorption import self_absorption_ratio
from tasks.nexafs.ascii_scan import BeamlineAsciiReader
from tasks.nexafs.athena import AthenaProjectReader
from tasks.nexafs.features import FEATURE_COLUMNS, edge_features, not_applicable_reason
from tasks.nexafs.nexus import NxxasReader
from tasks.nexafs.page import render as render_page
from tasks.nexafs.parameters import NexafsParameters, windows_needed
from tasks.nexafs.reduce import reduce_scans, reduce_spectra, reference_peak_shift
from tasks.nexafs.srs import DiamondSrsReader
from tasks.nexafs.two_column import ProcessedSpectrumReader
from tasks.nexafs.windows import WINDOW_FEATURES, EdgeSetup, edge_setup, short_windows
from tasks.nexafs.xdi import XdiReader

HERE = Path(__file__).parent
FEATURES = HERE.parents[1] / "warehouse" / "marts" / "features" / "nexafs.yaml"  # its soc_profile features
POINT_COLUMNS = ("energy_raw_ev", "signal_raw", "i0_raw", "signal_dark_corrected", "i0_dark_corrected", "mu_over_i0",
                 "pre_edge_line", "mu_pre_edge_subtracted", "mu_normalised", "step_background", "mu_sa_corrected",
                 "mu_final", "mu_minus_step")


def role_of(m: Measurement, params: dict[str, Any], has_sample: bool) -> str:
    """Header role wins; else the file-name conventions of the parameter set; else 'sample' for a
    file of a sample and 'reference' for one under references/ (no sample)."""
    declared = (m.meta.get("role") or "").strip().lower()
    if not declared:
        name = Path(m.provenance.original_name if m.provenance else "").name.lower()
        for role, patterns in params.get("roles", {}).get("file_name_patterns", {}).items():
            if any(fnmatch.fnmatch(name, p.lower()) for p in patterns):
                declared = role
                break
    role = declared or ("sample" if has_sample else "reference")
    if role not in ROLES:
        raise UnreadableFile(f"the file declares role {role!r}; use one of {ROLES} in its 'Role:' header")
    return role


def _safe_query(ctx: ProcessContext, sql: str, params: list[Any] | None = None) -> pd.DataFrame | None:
    try:
        return ctx.query(sql, params)
    except Exception:  # reference tables not committed yet: the caller flags the spectrum
        return None


def calibration(m: Measurement, role: str, ctx: ProcessContext) -> tuple[float, str]:
    """Energy shift and where it came from (see params 'calibration')."""
    cal = ctx.params.values["calibration"]
    edge = m.meta["edge"]
    d = m.data
    if m.kind != "xas_scan":
        return 0.0, "none"
    if role == "nio_calibration" and edge == "Ni_L":
        shift = reference_peak_shift(d["energy_ev"], d["signal"], d["i0"], np.array([m.meta["dark_signal"]]),
                                     np.array([m.meta["dark_i0"]]), float(cal["nio_ni_l3_peak_ev"]),
                                     tuple(cal["nio_peak_window"]))[0]
        return float(shift), "own_nio_peak"
    nominal = cal.get("reference_channel_peak_ev", {}).get(edge)
    known_mesh = m.meta.get("beamline") in cal.get("reference_channel_beamlines", [])
    if "ref" in d and nominal is not None and known_mesh:
        shift = reference_peak_shift(d["energy_ev"], d["ref"], d["i0"], np.array([m.meta.get("dark_ref", 0.0)]),
                                     np.array([m.meta["dark_i0"]]), float(nominal),
                                     tuple(cal["reference_channel_window"][edge]))[0]
        if np.isfinite(shift):
            return float(shift), "reference_channel"
    beamtime = m.meta.get("beamtime")
    if beamtime:
        rows = _safe_query(ctx, "select avg(calibration_shift_ev) as shift from xas_spectra "
                                "where role = 'nio_calibration' and beamtime = ?", [str(beamtime)])
        if rows is not None and len(rows) and pd.notna(rows["shift"].iloc[0]):
            return float(rows["shift"].iloc[0]), "nio_scan"
    return 0.0, "none"


def end_member_roles(edge: str) -> tuple[list[str], list[str]]:
    """Roles of the low- and high-valence reference scans of ``edge`` (Ni keeps its ni2/ni3 names)."""
    legacy = edge.startswith("Ni_")
    return (["low_valence_reference"] + (["ni2_reference"] if legacy else []),
            ["high_valence_reference"] + (["ni3_reference"] if legacy else []))


def end_member_spectra(ctx: ProcessContext, grid: np.ndarray, edge: str) -> np.ndarray | None:
    """Mean low- and high-valence reference spectra (mu_final) of ``edge`` on ``grid`` from the committed
    references, or None unless both exist."""
    low, high = end_member_roles(edge)
    rows = _safe_query(ctx, "select list_contains(?, s.role) as is_low, p.energy_ev, avg(p.mu_final) as mu "
                            "from xas_points p join xas_spectra s using (measurement_id) "
                            "where (list_contains(?, s.role) or list_contains(?, s.role)) and s.edge = ? "
                            "group by 1, 2 order by 1 desc, 2", [low, low, high, edge])
    if rows is None or rows.empty or rows["is_low"].nunique() != 2:
        return None
    comps = []
    for is_low in (True, False):
        r = rows[rows["is_low"] == is_low]
        comps.append(np.interp(grid, r["energy_ev"].to_numpy(float), r["mu"].to_numpy(float), left=np.nan,
                               right=np.nan))
    return np.vstack(comps)


def valence_of(edge: str, grid: np.ndarray, reduced: dict[str, np.ndarray], members: np.ndarray,
               cfg: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """valence_fraction (bounded to [0, 1]) and its sigma; a fit at a bound is flagged."""
    frac, sigma, free, at_bound = chain.bounded_fraction(grid, reduced["mu_final"], members, tuple(cfg["window"]))
    reasons = [f"valence_fraction_at_bound: {cfg['low']}/{cfg['high']} free fit gives {free[0]:.3f}, "
               f"reported {frac[0]:g}"] if at_bound[0] else []
    return {"valence_fraction": frac, "valence_fraction_sigma": sigma}, reasons


def sa_ratio_for(m: Measurement, ctx: ProcessContext) -> float | None:
    if m.mode != "FY" or m.kind != "xas_scan":
        return None
    sa = ctx.params.values["self_absorption"]
    edge = m.meta["edge"]
    if edge not in sa["below_above_ev"]:
        return None
    settings = (ctx.campaign.settings.get("nexafs", {}) if ctx.campaign is not None else {}) or {}
    formula = settings.get("formula", sa["formula"])
    below, above = sa["below_above_ev"][edge]
    return self_absorption_ratio(formula, m.meta["element"], sa["edge_level"][edge], float(below), float(above),
                                 float(m.meta.get("incidence_deg") or sa["incidence_deg"]),
                                 float(m.meta.get("exit_deg") or sa["exit_deg"]))


def absorption_of(m: Measurement) -> np.ndarray:
    """The raw absorption (dark-corrected signal / I0, or the file's mu) on the raw energy axis."""
    d = m.data
    if m.kind != "xas_scan":
        return np.asarray(d["mu"], dtype=float)
    return chain.divide_by_i0(chain.subtract_dark(d["signal"], np.array([m.meta["dark_signal"]])),
                              chain.subtract_dark(d["i0"], np.array([m.meta["dark_i0"]])))[0]


#: what normalisation writes; all null when a pre-/post-edge window is too short
NORMALISED = ("pre_edge_line", "mu_pre_edge_subtracted", "mu_normalised", "mu_sa_corrected", "mu_final",
              "mu_minus_step", "edge_step")


def reduce_one(m: Measurement, setup: EdgeSetup, shift: float, sa_ratio: float | None,
               too_short: dict[str, str]) -> dict[str, np.ndarray]:
    d = m.data
    quiet = np.errstate(invalid="ignore") if too_short else contextlib.nullcontext()
    with quiet:  # fits through empty windows: their nulls are replaced below
        if m.kind == "xas_scan":
            reduced = reduce_scans(setup.cfg, d["energy_ev"], d["signal"], d["i0"],
                                   np.array([m.meta["dark_signal"]]), np.array([m.meta["dark_i0"]]),
                                   np.array([shift]), sa_ratio)
        else:
            reduced = reduce_spectra(setup.cfg, d["energy_ev"], d["mu"], np.array([shift]))
    if too_short:  # a line or step through too few points is no background: null, flagged
        for key in NORMALISED:
            if reduced.get(key) is not None:
                reduced[key] = np.full(np.shape(reduced[key]), np.nan)
    return reduced


def features_of(m: Measurement, ctx: ProcessContext, role: str, setup: EdgeSetup, reduced: dict[str, np.ndarray],
                too_short: dict[str, str], energy: np.ndarray, valid: np.ndarray) -> tuple[dict[str, Any], list[str]]:
    """Feature values of the spectrum and why any of them is null (window shortfalls, references)."""
    params, edge = ctx.params.values, m.meta["edge"]
    grid = reduced["energy_ev"]
    if too_short:
        return {c: np.full(1, np.nan) for c in FEATURE_COLUMNS}, list(too_short.values())
    valence = params.get("valence", {}).get(edge)
    wants_members = role == "sample" and (edge == "Ni_L" or valence is not None)
    members = end_member_spectra(ctx, grid, edge) if wants_members else None
    feats = edge_features(edge, grid, reduced, setup.cfg, params["features"], members)
    reasons = not_applicable_reason(edge, role, valence is not None)
    if wants_members and members is None:
        reasons.append("no_end_member_references: no committed low- and high-valence reference scans of " + edge)
    min_points = int(params["normalisation"]["min_points"])
    if valence is not None and members is not None:
        why_not = short_windows(energy, valid, {"valence_window": valence["window"]}, min_points, ("valence_window",))
        values, why = valence_of(edge, grid, reduced, members, valence) if not why_not else ({}, [])
        feats.update(values)
        reasons += why + list(why_not.values())
    short = short_windows(energy, valid, setup.cfg, min_points, tuple(WINDOW_FEATURES))
    for window, why in short.items():
        for column in WINDOW_FEATURES[window]:
            feats[column] = np.full(1, np.nan)
        reasons.append(f"{why} ({', '.join(WINDOW_FEATURES[window])} null)")
    reasons += [f"{window}_not_configured: edges.{edge}.{window} is not set ({', '.join(WINDOW_FEATURES[window])} "
                "null)" for window in windows_needed(edge) if setup.cfg.get(window) is None]
    return feats, reasons


def process(m: Measurement, ctx: ProcessContext) -> dict[str, pd.DataFrame]:
    params = ctx.params.values
    edge = m.meta["edge"]
    role = role_of(m, params, ctx.sample is not None)
    flags = [f"dropped_{mode.lower()}: {why}" for mode, why in (m.meta.get("dropped_channels") or {}).items()]
    flags += list(m.meta.get("flags") or [])  # what the reader decided by default (edge, column mapping)
    shift, source = calibration(m, role, ctx)
    if source == "none":
        flags.append("uncalibrated")
    d = m.data
    energy = np.asarray(d["energy_ev"], dtype=float)
    mu = absorption_of(m)
    valid = np.isfinite(mu)
    setup = edge_setup(m.meta, energy + shift, mu, params)
    too_short = short_windows(energy + shift, valid, setup.cfg, int(params["normalisation"]["min_points"]),
                              ("pre_edge", "post_edge"))
    flags += setup.flags + list(too_short.values())
    sa_ratio = sa_ratio_for(m, ctx)
    if sa_ratio is None and m.mode == "FY" and m.kind == "xas_scan":
        flags.append(f"self_absorption_ratio: not corrected, params self_absorption.below_above_ev has no {edge}")
    reduced = reduce_one(m, setup, shift, sa_ratio, too_short)
    feats, reasons = features_of(m, ctx, role, setup, reduced, too_short, energy + shift, valid)
    grid = reduced["energy_ev"]
    (pre_lo, pre_hi), (post_lo, post_hi) = setup.cfg["pre_edge"], setup.cfg["post_edge"]
    spectra = pd.DataFrame([{
        "edge": edge, "element": m.meta["element"], "edge_source": m.meta.get("edge_source"),
        "e0_ev": setup.e0_ev, "window_mode": setup.window_mode,
        "pre_edge_from_ev": float(pre_lo), "pre_edge_to_ev": float(pre_hi),
        "post_edge_from_ev": float(post_lo), "post_edge_to_ev": float(post_hi),
        "role": role, "input_kind": m.kind,
        "layout": m.meta.get("layout"), "beamline": m.meta.get("beamline"),
        "beamtime": None if m.meta.get("beamtime") is None else str(m.meta.get("beamtime")),
        "scan_id": None if m.meta.get("scan_id") is None else str(m.meta.get("scan_id")),
        "energy_min_ev": float(energy.min()), "energy_max_ev": float(energy.max()), "n_points": int(energy.size),
        "calibration_shift_ev": shift, "calibration_source": source,
        "edge_step": float(reduced["edge_step"][0]),
        "i0_drift_pct": float(reduced["i0_drift_pct"][0]) if "i0_drift_pct" in reduced else None,
        "dark_signal": m.meta.get("dark_signal"), "dark_i0": m.meta.get("dark_i0"),
        "ring_current_ma": m.meta.get("ring_current_ma"), "dwell_s": m.meta.get("dwell_s"),
        "self_absorption_ratio": sa_ratio, "quality_flags": ",".join(flags),
    }])
    spectra = spectra.astype({"e0_ev": "float64"})
    n = grid.size
    points = {"edge": np.full(n, edge), "energy_ev": grid}
    for col in POINT_COLUMNS:
        v = reduced.get(col)
        points[col] = np.full(n, np.nan) if v is None else np.asarray(chain.as_stack(v)[0], dtype=float)
    points_df = pd.DataFrame(points)
    points_df = points_df[points_df["mu_over_i0"].notna()].reset_index(drop=True)
    valence = params.get("valence", {}).get(edge)
    features = pd.DataFrame([{"edge": edge, "role": role, **{k: float(v[0]) for k, v in feats.items()},
                              "valence_end_members": f"{valence['low']}/{valence['high']}" if valence else None,
                              "fit_flags": ",".join(reasons)}])
    features = features.astype({k: "float64" for k in feats})
    return {"xas_spectra": spectra, "xas_points": points_df, "xas_features": features}


def _demo(req) -> None:
    from tasks.nexafs.demo import demo

    demo(req)


QUALITY_CHECKS = {  # name -> SQL yielding subject, passed, value, unit, detail (warehouse/quality.py)
    "nexafs_spectrum_flags": """
        select measurement_id || ':' || coalesce(mode, 'no mode'), coalesce(quality_flags, '') = '', edge_step, '1',
               coalesce(nullif(quality_flags, ''), 'no flags')
        from current_xas_spectra""",
}

WARNINGS = {  # code -> SQL yielding sample_id, raw_sha256, subject, message (warehouse/warnings.py)
    "fit_at_bound": """
        select sample_id, raw_sha256, measurement_id || ':' || mode || ':' || edge,
               edge || ' ' || mode || ': the valence fit hit a bound ('
               || regexp_extract(fit_flags, 'valence_fraction_at_bound: [^,]*') || '): the end members do not '
               || 'bracket this spectrum; the fraction is a limit, not a measurement'
        from current_xas_features where contains(fit_flags, 'valence_fraction_at_bound')""",
}


TECHNIQUE = Technique(
    name="nexafs",
    readers=[BeamlineAsciiReader(), NxxasReader(), XdiReader(), ProcessedSpectrumReader(), DiamondSrsReader(),
             AthenaProjectReader()],
    tables=TABLES,
    default_params=HERE / "params" / "default.yaml",
    parameters=NexafsParameters,
    process=process,
    finalize=None,
    demo=_demo,
    views=[HERE.parents[1] / "warehouse" / "views" / "nexafs.sql"],
    checks=QUALITY_CHECKS,
    warnings=WARNINGS,
    features=FEATURES,
    accepts=("xas_scan", "xas_spectrum"),
    max_file_mb=1024,
    pages=[Page("nexafs", "NEXAFS", render_page)],
    worker_imports=("xraydb",),
)
