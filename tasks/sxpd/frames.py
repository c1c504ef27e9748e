"""Frames the SXPD plugin returns, built cheaply (a pattern's rows cost well under a millisecond each)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tasks.sxpd.crystallography import hkl_label
from tasks.sxpd.metric import f2_and_multiplicity
from tasks.sxpd.phase_cells import phase_rows

#: the same few dozen labels recur in every pattern
_hkl_label = lru_cache(maxsize=4096)(hkl_label)


def one_row_frame(row: dict[str, Any]) -> pd.DataFrame:
    """``pd.DataFrame([row])``, cheaper: Python floats and ints go in as the float64/int64 arrays pandas
    would infer for them; other values (str, None, Timestamp) through pandas' own inference."""
    columns: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, (float, np.floating)):
            columns[name] = np.array([value], dtype=np.float64)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and -2**63 <= value < 2**63:
            columns[name] = np.array([value], dtype=np.int64)
        else:
            columns[name] = [value]
    return pd.DataFrame(columns)


def clean_peaks(peaks: dict[str, Any]) -> pd.DataFrame:
    """Non-negative checks hold for fitted numbers only; NaN stays NaN (not fitted)."""
    for col in ("position_sigma_deg", "fwhm_deg", "fwhm_sigma_deg", "area_counts_deg", "area_sigma_counts_deg"):
        values = np.asarray(peaks[col], dtype=float)
        peaks[col] = np.where(values < 0, np.nan, values)
    return pd.DataFrame(peaks)


def phase_frame(phases, cells, pk: dict[str, np.ndarray], row: dict[str, Any], f2=None, mult=None) -> pd.DataFrame:
    """``sxpd_phase_cells`` rows of a pattern; |F|² and multiplicities looked up when not given."""
    if f2 is None:
        f2, mult = np.full(len(pk["phase"]), np.nan), np.ones(len(pk["phase"]))  # fresh: filled below
        hkl = np.column_stack([pk["h"], pk["k"], pk["l"]])
        for ph in phases:
            sel = pk["phase"] == ph.name
            if sel.any():
                f2[sel], mult[sel] = f2_and_multiplicity(ph, hkl[sel])
    base = {"scan_number": row["scan_number"], "measured_at": row["measured_at"]}
    rows = phase_rows(phases, cells, pk, f2, mult, base)
    return pd.DataFrame({col: _column([r[col] for r in rows]) for col in rows[0]})


def _column(values: list[Any]) -> Any:
    """Numbers (None: null) as a float64 array, so pandas need not infer types row by row; others as they are."""
    if all(v is None or (isinstance(v, (float, np.floating)) and not isinstance(v, bool)) for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return values


def peaks_frame(pk: dict[str, np.ndarray]) -> pd.DataFrame:
    """``sxpd_peaks`` rows; reflections are unique per (phase, h, k, l) by construction (merged equivalents)."""
    return clean_peaks({"phase": pk["phase"], "h": pk["h"].astype(np.int64), "k": pk["k"].astype(np.int64),
                        "l": pk["l"].astype(np.int64),
                        "hkl": [_hkl_label(*t) for t in zip(pk["h"].tolist(), pk["k"].tolist(), pk["l"].tolist())],
                        "predicted_deg": pk["predicted_deg"], "position_deg": pk["position_deg"],
                        "position_sigma_deg": pk["position_sigma_deg"], "fwhm_deg": pk["fwhm_deg"],
                        "fwhm_sigma_deg": pk["fwhm_sigma_deg"], "area_counts_deg": pk["area"],
                        "area_sigma_counts_deg": pk["area_sigma"], "eta": pk["eta"], "asymmetry": pk["asymmetry"],
                        "instrument_fwhm_deg": pk["instrument_fwhm_deg"], "window_id": pk["group"].astype(np.int64),
                        "window_chi2_red": pk["group_chi2_red"], "fitted": pk["fitted"].astype(bool),
                        "resolved": pk["resolved"].astype(bool), "used": pk["used_in_lattice"].astype(bool),
                        "residual_deg": pk["lattice_residual_deg"]})
