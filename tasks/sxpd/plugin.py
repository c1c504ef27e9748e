"""The SXPD technique plugin: readers, tables, per-pattern processing, time alignment, demo.

process:
- a pattern with no sample (a standard under ``references/``) → one ``sxpd_calibrations`` row
  (+ its Si reflections in ``sxpd_peaks``);
- a sample pattern → one ``sxpd_patterns`` row + its reflections in ``sxpd_peaks``. Its wavelength
  comes from, in order: a configured value (share ``reader_options`` or campaign
  ``settings.sxpd.wavelength_angstrom``), the calibration of the same beamtime / nearest in time,
  a wavelength stored in the file. With none of them the file is quarantined (MissingInformation);
- an external refinement table → ``sxpd_refinements`` rows.
finalize: ``sxpd_alignment`` (voltage, charge, SOC, branch per pattern) from ``echem_series``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foundation.contract import (
    FinalizeContext,
    Measurement,
    MissingInformation,
    Page,
    ProcessContext,
    Technique,
    UnreadableFile,
)
from schemas.sxpd import SXPD_REFINEMENTS, TABLES
# the pattern analysis (scipy: ~0.3 s of imports) is imported where a pattern is analysed, so that
# loading the plugin (a no-op re-run, `socscope status`) does not pay for it
from tasks.sxpd.alignment import align_patterns
from tasks.sxpd import olivine_demo
from tasks.sxpd.demo import demo as ncm_demo
from tasks.sxpd.frames import clean_peaks, one_row_frame, peaks_frame, phase_frame
from tasks.sxpd.nexus_reader import NexusReader
from tasks.sxpd.page import render as render_page
from tasks.sxpd.parameters import SxpdParameters
from tasks.sxpd.pattern import KIND as PATTERN_KIND
from tasks.sxpd.phase_cells import legacy_cells
from tasks.sxpd.phases import check_settings, declared_phases, default_phases
from tasks.sxpd.refinement_reader import KIND as REFINEMENT_KIND
from tasks.sxpd.refinement_reader import RefinementCsvReader
from tasks.sxpd import scan_log
from tasks.sxpd.xye_reader import XyeReader

HERE = Path(__file__).resolve().parent
VIEWS = HERE.parents[1] / "warehouse" / "views" / "sxpd.sql"
FEATURES = HERE.parents[1] / "warehouse" / "marts" / "features" / "sxpd.yaml"  # its soc_profile features


def _settings(ctx: ProcessContext | FinalizeContext) -> dict[str, Any]:
    campaign = getattr(ctx, "campaign", None)
    return dict(campaign.settings.get("sxpd", {})) if campaign is not None else {}


def _local_to_utc(ts: pd.Timestamp, zone: ZoneInfo) -> pd.Timestamp:
    """``ts.tz_localize(zone).tz_convert("UTC")`` at a third of the cost: the offset from zoneinfo.

    A local time that is ambiguous or skipped (a daylight-saving change) goes through pandas, which
    rejects it. Dropping nanoseconds to ask zoneinfo cannot change the offset: zones change on whole seconds.
    """
    naive = ts.to_pydatetime(warn=False)
    offset = zone.utcoffset(naive)
    if offset != zone.utcoffset(naive.replace(fold=1)):
        return ts.tz_localize(zone).tz_convert("UTC")
    return (ts - offset).tz_localize("UTC")


def measured_at(meta: dict[str, Any], timezone: str) -> pd.Timestamp | None:
    """Scan time in UTC (mid-exposure when the counting time is known); naive times are local."""
    raw = meta.get("measured_at") or meta.get("start_time")
    if not raw:
        return None
    try:
        ts = pd.Timestamp(str(raw).strip())
    except (ValueError, TypeError):
        return None
    ts = _local_to_utc(ts, ZoneInfo(timezone)) if ts.tzinfo is None else ts.tz_convert("UTC")
    try:
        ts += pd.Timedelta(seconds=float(meta.get("counting_time_s", 0.0)) / 2.0)
    except (TypeError, ValueError):
        pass
    return ts


def pattern_time(m: Measurement, ctx: ProcessContext) -> tuple[pd.Timestamp | None, list[str]]:
    """(UTC time, flags): the file's own time, else its row in a scan log of the campaign (committed first)."""
    from tasks.sxpd.pattern_rows import _scan_number

    when = measured_at(m.meta, _settings(ctx).get("timezone", "Europe/London"))
    if when is not None:
        return when, []
    rows = _query(ctx, "select file_name, scan_number, start_time, counting_time_s, time_zone, time_zone_source "
                       "from sxpd_scan_log")
    try:
        counting = float(m.meta.get("counting_time_s", 0.0))
    except (TypeError, ValueError):
        counting = 0.0
    return scan_log.lookup(rows, m.provenance.original_name if m.provenance else None, _scan_number(m.meta), counting)


def _beamtime(meta: dict[str, Any], settings: dict[str, Any]) -> str | None:
    value = meta.get("experiment") or meta.get("visit") or meta.get("beamtime") or settings.get("beamtime")
    return str(value) if value else None


def _query(ctx, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """A query on a table that may not exist yet counts as empty."""
    try:
        return ctx.query(sql, params)
    except Exception as exc:
        if "does not exist" in str(exc) or "not found" in str(exc).lower() or "Catalog" in type(exc).__name__:
            return pd.DataFrame()
        raise


def _instrument_from(row: dict[str, Any]) -> Instrument:
    from tasks.sxpd.analysis import Instrument

    return Instrument(float(row["wavelength_angstrom"]), float(row["zero_offset_deg"]),
                      (float(row["caglioti_u_deg2"]), float(row["caglioti_v_deg2"]), float(row["caglioti_w_deg2"])))


def _with_log_times(rows: list[dict[str, Any]], ctx: ProcessContext) -> list[dict[str, Any]]:
    """Standards without a time in their file take it from the scan log (committed with them, so
    their own row could not see it)."""
    if all(r.get("measured_at") is not None and not pd.isna(r["measured_at"]) for r in rows):
        return rows
    log = _query(ctx, "select file_name, scan_number, start_time, counting_time_s, time_zone, time_zone_source "
                      "from sxpd_scan_log")
    out = []
    for r in rows:
        if r.get("measured_at") is None or pd.isna(r["measured_at"]):
            scan = None if r.get("scan_number") is None or pd.isna(r["scan_number"]) else int(r["scan_number"])
            r = {**r, "measured_at": scan_log.lookup(log, None, scan, 0.0)[0] if scan is not None else None}
        out.append(r)
    return out


def choose_instrument(meta: dict[str, Any], ctx: ProcessContext, when: pd.Timestamp | None
                      ) -> tuple[Instrument, str, str | None, list[str]]:
    """(instrument, wavelength source, calibration id, flags) for a sample pattern."""
    from tasks.sxpd.analysis import Instrument

    settings = {**_settings(ctx), **{k: v for k, v in dict(ctx.options).items()
                                     if k in ("wavelength_angstrom", "zero_offset_deg", "caglioti_uvw_deg2")}}
    flags: list[str] = []
    default_uvw = settings.get("caglioti_uvw_deg2")
    if settings.get("wavelength_angstrom"):
        if default_uvw is None:
            flags.append("instrument widths unknown: strain not corrected for instrument broadening")
        return (Instrument(float(settings["wavelength_angstrom"]), float(settings.get("zero_offset_deg", 0.0)),
                           tuple(default_uvw or (0.0, 0.0, 0.0))), "configured", None, flags)
    # a handful of rows: plain records are cheaper than pandas filtering for every pattern
    table = _query(ctx, "select * from sxpd_calibrations")
    # plain records (what ``to_dict("records")`` gives, from one object array: a sixth of the cost)
    cols = list(table.columns)
    rows = [dict(zip(cols, values)) for values in table.to_numpy(dtype=object).tolist()] if cols else []
    if any(r.get("params_id") == ctx.params.id for r in rows):
        rows = [r for r in rows if r.get("params_id") == ctx.params.id]
    beamtime = _beamtime(meta, settings)
    if beamtime is not None and any(r.get("beamtime") == beamtime for r in rows):
        rows = [r for r in rows if r.get("beamtime") == beamtime]
    timed = [r for r in _with_log_times(rows, ctx) if r.get("measured_at") is not None and not pd.isna(r["measured_at"])]
    limit_h = float(ctx.params.values["wavelength"]["max_calibration_distance_h"])
    if when is not None and timed:
        distance = [abs((pd.Timestamp(r["measured_at"]) - when).total_seconds()) / 3600.0 for r in timed]
        best = int(np.argmin(distance))
        if distance[best] <= limit_h:
            return _instrument_from(timed[best]), "calibration", str(timed[best]["calibration_id"]), flags
    elif len(rows) == 1:
        flags.append("pattern time unknown: the only calibration of the campaign was used")
        return _instrument_from(rows[0]), "calibration", str(rows[0]["calibration_id"]), flags
    if meta.get("wavelength_angstrom"):
        flags.append("wavelength from the file: zero offset and instrument widths unknown")
        return Instrument(float(meta["wavelength_angstrom"]), 0.0, (0.0, 0.0, 0.0)), "file", None, flags
    raise MissingInformation(
        "no wavelength for this pattern: no calibration standard of this beamtime within "
        f"{limit_h:g} h of the scan in sxpd_calibrations, no configured wavelength and none stored in the "
        "file. Put the beamtime's Si standard under references/ on the share, or set "
        "settings.sxpd.wavelength_angstrom in the campaign config, then re-run")


def _calibration_frames(m: Measurement, ctx: ProcessContext) -> dict[str, pd.DataFrame]:
    from tasks.sxpd.calibration import calibrate
    from tasks.sxpd.pattern_rows import _scan_number

    settings = ctx.params.values["calibration"]
    d = m.data
    cal = calibrate(d["two_theta_deg"], d["intensity_counts"], d["sigma_counts"], settings,
                    source=m.provenance.original_name if m.provenance else "standard")
    when, _ = pattern_time(m, ctx)
    row = {"calibration_id": m.measurement_id, "beamtime": _beamtime(m.meta, _settings(ctx)),
           "measured_at": when, "scan_number": _scan_number(m.meta) or scan_log.scan_of(
               m.provenance.original_name if m.provenance else None), "standard": cal.standard,
           "standard_a_angstrom": cal.standard_a_angstrom, "wavelength_angstrom": cal.wavelength_angstrom,
           "wavelength_sigma_angstrom": cal.wavelength_sigma_angstrom, "zero_offset_deg": cal.zero_offset_deg,
           "zero_offset_sigma_deg": cal.zero_offset_sigma_deg, "caglioti_u_deg2": cal.caglioti_u_deg2,
           "caglioti_v_deg2": cal.caglioti_v_deg2, "caglioti_w_deg2": cal.caglioti_w_deg2,
           "rms_residual_deg": cal.rms_residual_deg, "max_residual_deg": cal.max_residual_deg,
           "n_reflections": cal.n_reflections,
           "n_rejected": int(np.isfinite(cal.peaks["position_deg"]).sum() - cal.n_reflections),
           "asymmetry_below_deg": float(settings.get("asymmetry_below_deg", 0.0))}
    p = cal.peaks
    hkl = np.array([[int(c) for c in lab] if " " not in lab else [int(v) for v in lab.split()] for lab in p["hkl"]])
    inst = cal.instrument_fwhm_deg(np.nan_to_num(p["position_deg"], nan=10.0))
    peaks = {"phase": np.full(len(hkl), "Si"), "h": hkl[:, 0], "k": hkl[:, 1], "l": hkl[:, 2], "hkl": p["hkl"],
                          "predicted_deg": np.degrees(2 * np.arcsin(cal.wavelength_angstrom / (2 * p["d_angstrom"])))
                          + cal.zero_offset_deg,
                          "position_deg": p["position_deg"], "position_sigma_deg": p["position_sigma_deg"],
                          "fwhm_deg": p["fwhm_deg"], "fwhm_sigma_deg": p["fwhm_sigma_deg"],
                          "area_counts_deg": p["area"], "area_sigma_counts_deg": p["area_sigma"], "eta": np.full(len(inst), np.nan),
                          "asymmetry": p["alpha"], "instrument_fwhm_deg": inst, "window_id": np.arange(len(inst)),
                          "window_chi2_red": np.full(len(inst), np.nan), "fitted": np.ones(len(inst), bool),
                          "resolved": np.ones(len(inst), bool), "used": p["used"],
                          "residual_deg": p["residual_deg"]}
    return {"sxpd_calibrations": one_row_frame(row), "sxpd_peaks": clean_peaks(peaks)}


def _finite_median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def _pattern_frames(m: Measurement, ctx: ProcessContext) -> dict[str, pd.DataFrame]:
    from tasks.sxpd.analysis import analyse_pattern
    from tasks.sxpd.pattern_rows import _scan_number

    params = ctx.params.values
    when, time_flags = pattern_time(m, ctx)
    instrument, source, calibration_id, flags = choose_instrument(m.meta, ctx, when)
    flags = time_flags + flags
    d = m.data
    res = analyse_pattern(d["two_theta_deg"], d["intensity_counts"], d["sigma_counts"], instrument, params)
    flags += res.flags
    pk = res.peaks
    ncm = pk["phase"] == "NCM"
    lat = res.lattice
    if lat is None:
        raise UnreadableFile(
            f"{m.provenance.original_name if m.provenance else 'pattern'}: too few NCM reflections could be fitted "
            f"to refine a and c (searched a in {params['lattice_search']['a_range_angstrom']} Å, c in "
            f"{params['lattice_search']['c_range_angstrom']} Å at λ = {instrument.wavelength_angstrom:.6f} Å); is "
            f"this an NCM pattern and is the wavelength right?")
    wh = res.strain
    for fam in ("00l", "hk0", "overall"):
        if wh[fam].flag:
            flags.append(f"strain {fam}: {wh[fam].flag}")
    fitted_ncm = ncm & pk["fitted"]
    converged_fraction = float(np.mean(pk["converged"][fitted_ncm])) if fitted_ncm.any() else 0.0
    if not (lat.a_sigma < 0.002 and lat.c_sigma < 0.01):
        flags.append("lattice poorly determined")
    row = {"scan_number": _scan_number(m.meta), "measured_at": when, "source_format": m.meta.get("format"),
           "n_points": int(m.meta.get("n_points", len(d["two_theta_deg"]))),
           "two_theta_max_deg": float(d["two_theta_deg"][-1]), "calibration_id": calibration_id,
           "wavelength_source": source, "wavelength_angstrom": instrument.wavelength_angstrom,
           "zero_offset_deg": instrument.zero_offset_deg, "a_angstrom": lat.a, "a_sigma_angstrom": lat.a_sigma,
           "c_angstrom": lat.c, "c_sigma_angstrom": lat.c_sigma, "volume_a3": lat.volume,
           "volume_sigma_a3": lat.volume_sigma, "c_over_a": lat.c / lat.a, "zero_shift_deg": lat.zero_shift,
           "zero_shift_sigma_deg": lat.zero_shift_sigma, "lattice_chi2_red": lat.chi2_red,
           "lattice_rms_residual_deg": lat.rms_residual_deg,
           "n_reflections_fitted": int((ncm & pk["fitted"]).sum()), "n_reflections_used": int(pk["used_in_lattice"].sum()),
           "fit_converged_fraction": converged_fraction,
           "median_group_chi2_red": _finite_median(pk["group_chi2_red"]),
           "microstrain_pct": wh["overall"].microstrain_pct, "microstrain_sigma_pct": wh["overall"].microstrain_sigma_pct,
           "microstrain_00l_pct": wh["00l"].microstrain_pct, "microstrain_00l_sigma_pct": wh["00l"].microstrain_sigma_pct,
           "microstrain_hk0_pct": wh["hk0"].microstrain_pct, "microstrain_hk0_sigma_pct": wh["hk0"].microstrain_sigma_pct,
           "size_nm": wh["overall"].size_nm, "n_reflections_00l": wh["00l"].n_reflections,
           "n_reflections_hk0": wh["hk0"].n_reflections, "quality_flags": "; ".join(flags)}
    peaks = peaks_frame(pk)
    phases = default_phases(params.get("phases", {}))
    cells = phase_frame(phases, legacy_cells(phases, lat), pk, row)
    return {"sxpd_patterns": one_row_frame(row), "sxpd_peaks": peaks, "sxpd_phase_cells": cells}


def _declared_frames(m: Measurement, ctx: ProcessContext, phases) -> dict[str, pd.DataFrame]:
    """A sample pattern fitted with the campaign's declared phases (any crystal system)."""
    from tasks.sxpd.pattern_rows import declared_pattern_row
    from tasks.sxpd.phase_analysis import analyse_phases

    params = ctx.params.values
    when, time_flags = pattern_time(m, ctx)  # the file's own time, else the scan log's
    instrument, source, calibration_id, flags = choose_instrument(m.meta, ctx, when)
    flags = time_flags + flags
    d = m.data
    res = analyse_phases(d["two_theta_deg"], d["intensity_counts"], d["sigma_counts"], instrument, params, phases)
    cells = res.cells
    sample_phases = [ph.name for ph in phases if ph.role != "cell_part"]
    if cells is None or not set(cells.cells) & set(sample_phases):
        raise UnreadableFile(
            f"{m.provenance.original_name if m.provenance else 'pattern'}: too few reflections of the declared "
            f"phases {sample_phases} could be fitted to refine any of their cells at λ = "
            f"{instrument.wavelength_angstrom:.6f} Å; are these the sample's phases (settings.sxpd.phases) and is "
            "the wavelength right?")
    main = next((ph for ph in phases if ph.role == "main"), None)  # None: sample_phases left it out
    row = declared_pattern_row(m, when, instrument, source, calibration_id, flags + res.flags, main, res)
    return {"sxpd_patterns": one_row_frame(row), "sxpd_peaks": peaks_frame(res.peaks),
            "sxpd_phase_cells": phase_frame(phases, cells, res.peaks, row, res.f2, res.multiplicity)}


def process(m: Measurement, ctx: ProcessContext) -> dict[str, pd.DataFrame]:
    if m.kind == scan_log.KIND:
        return {"sxpd_scan_log": scan_log.log_rows(m.data, ctx.options, _settings(ctx))}
    if m.kind == REFINEMENT_KIND:
        own = [c.name for c in SXPD_REFINEMENTS.columns]
        return {"sxpd_refinements": m.data.reindex(columns=own)}  # absent optional columns → null
    if m.kind != PATTERN_KIND:
        raise UnreadableFile(f"sxpd cannot process a {m.kind!r} measurement")
    if m.meta.get("truncated"):  # a pattern missing its high-angle end would bias the cell and the widths
        raise UnreadableFile(f"the pattern file is truncated ({m.meta['truncated']}); copy it again from the "
                             "beamline")
    if ctx.sample is None:
        return _calibration_frames(m, ctx)
    base_dir = ctx.campaign.base_dir if getattr(ctx, "campaign", None) is not None else Path(".")
    phases = declared_phases(_settings(ctx), base_dir, ctx.sample.id)
    return _pattern_frames(m, ctx) if phases is None else _declared_frames(m, ctx, phases)


def finalize(ctx: FinalizeContext) -> dict[str, pd.DataFrame]:
    cfg = ctx.params.values["alignment"]
    settings = _settings(ctx)
    offset = float(settings.get("clock_offset_s", cfg["clock_offset_s"]))
    patterns = _query(ctx, "select measurement_id, sample_id, measured_at, raw_sha256, params_id from sxpd_patterns "
                           "where sample_id is not null")
    # patterns refined phase by phase (sxpd_phase_cells) are placed on the cycle too, once each
    cells = _query(ctx, "select distinct measurement_id, sample_id, measured_at, raw_sha256, params_id "
                        "from sxpd_phase_cells where sample_id is not null")
    if not cells.empty:
        patterns = cells if patterns.empty else pd.concat([patterns, cells], ignore_index=True)
    if patterns.empty:
        return {}
    if "params_id" in patterns and (patterns["params_id"] == ctx.params.id).any():
        patterns = patterns[patterns["params_id"] == ctx.params.id]
    patterns = patterns.drop_duplicates("measurement_id")
    frames = []
    for sample_id, group in patterns.groupby("sample_id"):
        sample = ctx.campaign.sample(sample_id) if ctx.campaign is not None else None
        cell_id = sample.cell if sample is not None else None
        series = pd.DataFrame()
        if cell_id is not None:
            series = _query(ctx, "select * from echem_series where cell_id = ?", [str(cell_id)])
            if not series.empty and "params_id" in series and series["params_id"].nunique() > 1:
                # several cycler parameter sets: align on the most recently processed one
                latest = series.sort_values("processed_at")["params_id"].iloc[-1] if "processed_at" in series \
                    else series["params_id"].iloc[-1]
                series = series[series["params_id"] == latest]
        aligned = align_patterns(group, series, cell_id, offset, float(cfg["max_gap_s"]))
        aligned["raw_sha256"] = group["raw_sha256"].to_numpy()
        frames.append(aligned)
    return {"sxpd_alignment": pd.concat(frames, ignore_index=True)}


def demo(req) -> None:
    """The demo campaign's patterns: the olivine campaign's, else the NCM622 one's."""
    (olivine_demo.demo if req.campaign.name == olivine_demo.CAMPAIGN_NAME else ncm_demo)(req)


QUALITY_CHECKS = {  # name -> SQL yielding subject, passed, value, unit, detail (warehouse/quality.py)
    "sxpd_calibration_residual": """
        select calibration_id, rms_residual_deg <= 0.005, rms_residual_deg, 'deg',
               'lambda ' || round(wavelength_angstrom, 6) || ' A from ' || n_reflections || ' reflections'
        from current_sxpd_calibrations""",
    # a main phase other than R-3m leaves a and c null with a note: not a fit problem
    "sxpd_pattern_fit": """
        select measurement_id,
               regexp_replace(coalesce(quality_flags, ''), 'main phase [^;]*(not R-3m|not declared)[^;]*(; )?', '', 'g') = '',
               fit_converged_fraction, '1', coalesce(nullif(quality_flags, ''), 'no flags')
        from current_sxpd_patterns""",
}


TECHNIQUE = Technique(
    name="sxpd",
    readers=[XyeReader(), NexusReader(), RefinementCsvReader(), scan_log.ScanLogReader()],
    tables=TABLES,
    default_params=HERE / "params" / "default.yaml",
    parameters=SxpdParameters,
    process=process,
    finalize=finalize,
    demo=demo,
    finalize_after=("echem",),  # the SOC alignment reads echem_series; the patterns need no cycler record
    views=[VIEWS],
    checks=QUALITY_CHECKS,
    features=FEATURES,
    accepts=(PATTERN_KIND, REFINEMENT_KIND, scan_log.KIND),
    process_first=scan_log.is_scan_log,
    max_file_mb=4096,
    pages=[Page("diffraction", "Diffraction", render_page)],
    check_settings=check_settings,
    worker_imports=("tasks.sxpd.analysis", "tasks.sxpd.calibration", "tasks.sxpd.pattern_rows",
                    "tasks.sxpd.phase_analysis"),
)

