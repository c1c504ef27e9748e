"""The `quality` table: one row per check on a measurement, written after every processing run.

Each check is SQL over the current technique tables that yields
(technique, subject, passed, value, unit, detail); a check whose tables are absent is skipped.
"""
from __future__ import annotations

import pandas as pd

from schemas.platform import QUALITY
from warehouse.faults import fault_point
from warehouse.store import Warehouse

CHECKS: dict[str, str] = {
    "soc_matches_label": """
        select 'echem' as technique, sample_id as subject, not soc_mismatch as passed,
               soc_measured_pct - soc_nominal_pct as value, '%' as unit,
               'measured ' || round(soc_measured_pct, 1) || ' % vs label ' || soc_nominal_pct || ' %' as detail
        from current_sample_soc""",
    "gitt_rest_relaxed": """
        select 'echem', measurement_id || ':pulse' || pulse_index, relaxed, end_rest_drift_mv_h, 'mV/h',
               'end-of-rest drift ' || round(end_rest_drift_mv_h, 2) || ' mV/h'
        from current_gitt_pulses""",
    "afm_registration_ok": """
        select 'afm', pair_id, quality_ok, peak_correlation, '1',
               'shift ' || round(shift_x_px, 2) || ', ' || round(shift_y_px, 2) || ' px; overlap ' || round(overlap_fraction, 3)
        from current_afm_registrations""",
    "afm_flattening_roughness": """
        select 'afm', measurement_id, roughness_rms_nm is not null and roughness_rms_nm < 50, roughness_rms_nm, 'nm',
               'residual rms roughness of the flattened matrix'
        from current_afm_maps""",
    "sxpd_calibration_residual": """
        select 'sxpd', calibration_id, rms_residual_deg <= 0.005, rms_residual_deg, 'deg',
               'lambda ' || round(wavelength_angstrom, 6) || ' A from ' || n_reflections || ' reflections'
        from current_sxpd_calibrations""",
    "sxpd_pattern_fit": """
        select 'sxpd', measurement_id, coalesce(quality_flags, '') = '', fit_converged_fraction, '1',
               coalesce(nullif(quality_flags, ''), 'no flags')
        from current_sxpd_patterns""",
    "nexafs_spectrum_flags": """
        select 'nexafs', measurement_id || ':' || mode, coalesce(quality_flags, '') = '', edge_step, '1',
               coalesce(nullif(quality_flags, ''), 'no flags')
        from current_xas_spectra""",
}


def run_checks(campaign, wh: Warehouse, params_id: str) -> pd.DataFrame:
    frames = []
    for name, sql in CHECKS.items():
        try:
            df = wh.query(sql)
        except Exception as exc:
            if "does not exist" in str(exc):
                continue
            raise
        df.columns = ["technique", "subject", "passed", "value", "unit", "detail"]
        df["check_name"] = name
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=QUALITY.column_names)
    out = pd.concat(frames, ignore_index=True)
    out["campaign"] = campaign.name
    out["params_id"] = params_id
    out["checked_at"] = pd.Timestamp.now(tz="UTC")
    out["passed"] = out["passed"].fillna(False).astype(bool)
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out.drop_duplicates(["subject", "check_name"])[QUALITY.column_names]


def write_quality(campaign, wh: Warehouse, run_id: str | None, params_id: str) -> int:
    df = run_checks(campaign, wh, params_id)
    tx = wh.transaction(run_id)
    tx.put(QUALITY, df, "quality:checks")
    fault_point("marts.quality.written")
    tx.commit()
    return len(df)
