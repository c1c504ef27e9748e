"""Place each pattern on its cell's cycler record: voltage, current, charge, SOC and branch.

Pure function on frames: the patterns (measurement_id, sample_id, measured_at) and the cell's
``echem_series`` rows (timestamp in UTC, voltage_v, current_a, charge_ah, soc_pct). The beamline
and cycler clocks may differ: ``clock_offset_s`` = beamline − cycler is subtracted from the pattern
time. A pattern further than ``max_gap_s`` from any cycler record (or with no record at all) keeps
null values and says why in ``alignment_flag``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _epoch_s(ts: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(ts, utc=True)
    return (ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy(dtype=float)


def align_patterns(patterns: pd.DataFrame, series: pd.DataFrame, cell_id: str | None,
                   clock_offset_s: float, max_gap_s: float) -> pd.DataFrame:
    out = pd.DataFrame({"measurement_id": patterns["measurement_id"].to_numpy(),
                        "sample_id": patterns["sample_id"].to_numpy(), "cell_id": cell_id,
                        "measured_at": pd.to_datetime(patterns["measured_at"], utc=True).to_numpy()})
    n = len(out)
    t = _epoch_s(patterns["measured_at"]) if n else np.array([])
    out["elapsed_s"] = t - np.nanmin(t) if n and np.isfinite(t).any() else np.nan
    for col in ("cycler_time_s", "voltage_v", "current_a", "charge_ah", "soc_pct"):
        out[col] = np.nan
    out["branch"] = None
    out["clock_offset_s"] = float(clock_offset_s)
    flags = np.full(n, "", dtype=object)
    if cell_id is None:
        flags[:] = "no cell: the sample has no cell in the campaign config"
        out["alignment_flag"] = flags
        return out
    if series is None or series.empty:
        flags[:] = f"no cycler record: echem_series has no rows for cell {cell_id}"
        out["alignment_flag"] = flags
        return out
    series = series.sort_values("timestamp")
    ts = _epoch_s(series["timestamp"])
    t_cycler = t - clock_offset_s
    idx = np.clip(np.searchsorted(ts, t_cycler), 1, len(ts) - 1) if len(ts) > 1 else np.zeros(n, int)
    nearest_gap = np.minimum(np.abs(ts[idx] - t_cycler), np.abs(ts[np.maximum(idx - 1, 0)] - t_cycler))
    ok = np.isfinite(t_cycler) & (nearest_gap <= max_gap_s) & (t_cycler >= ts[0] - max_gap_s) & (t_cycler <= ts[-1] + max_gap_s)
    for col in ("voltage_v", "current_a", "charge_ah", "soc_pct"):
        if col in series:
            values = series[col].to_numpy(dtype=float)
            out.loc[ok, col] = np.interp(t_cycler[ok], ts, values)
    if "time_s" in series:
        out.loc[ok, "cycler_time_s"] = np.interp(t_cycler[ok], ts, series["time_s"].to_numpy(dtype=float))
    # the branch is what the cell was doing at the pattern: the current of the record just before
    before = np.clip(np.searchsorted(ts, t_cycler, side="right") - 1, 0, len(ts) - 1)
    current = series["current_a"].to_numpy(dtype=float)[before] if "current_a" in series else np.full(n, np.nan)
    threshold = 1e-3 * np.nanmax(np.abs(series["current_a"])) if "current_a" in series else 0.0
    branch = np.where(current > threshold, "charge", np.where(current < -threshold, "discharge", "rest"))
    out["branch"] = np.where(ok & np.isfinite(current), branch, None)
    flags[~ok] = (f"no cycler record within {max_gap_s:g} s of the pattern (clock offset {clock_offset_s:g} s); "
                  f"check the clock offset or the cycler file")
    out["alignment_flag"] = flags
    return out
