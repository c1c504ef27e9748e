"""Per-cycle capacities, coulombic efficiency and dQ/dV peak positions (group sums, no record loops)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def dqdv_peak_v(voltage_v: np.ndarray, dq_ah: np.ndarray, group: np.ndarray, n_groups: int,
                bin_v: float) -> np.ndarray:
    """Voltage of the largest dQ/dV per group: |dq| histogrammed on a common voltage grid."""
    ok = np.isfinite(voltage_v) & (group >= 0) & (dq_ah > 0)
    if not ok.any():
        return np.full(n_groups, np.nan)
    lo = np.floor(np.nanmin(voltage_v[ok]) / bin_v) * bin_v
    nbins = int(np.ceil((np.nanmax(voltage_v[ok]) - lo) / bin_v)) + 1
    b = np.clip(((voltage_v[ok] - lo) / bin_v).astype("int64"), 0, nbins - 1)
    hist = np.zeros((n_groups, nbins))
    np.add.at(hist, (group[ok], b), dq_ah[ok])
    # a 3-bin moving average keeps a single noisy bin from winning
    kernel = np.ones(3) / 3.0
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, hist) if nbins >= 3 else hist
    peak = lo + (np.argmax(smooth, axis=1) + 0.5) * bin_v
    return np.where(hist.sum(axis=1) > 0, peak, np.nan)


def per_cycle(series: pd.DataFrame, active_mass_mg: float | None, dqdv_bin_v: float = 0.005) -> pd.DataFrame:
    q = series["charge_ah"].to_numpy("float64")
    dq = np.diff(q, prepend=q[:1])
    cyc = series["cycle"].to_numpy("int64")
    cycles, group = np.unique(cyc, return_inverse=True)
    n = cycles.size
    t = series["time_s"].to_numpy("float64")
    v = series["voltage_v"].to_numpy("float64")
    charge_ah = np.bincount(group, np.clip(dq, 0, None), n)
    discharge_ah = np.bincount(group, np.clip(-dq, 0, None), n)
    out = pd.DataFrame({
        "cycle": cycles.astype("int64"),
        "start_time_s": pd.Series(t).groupby(group).min().to_numpy(),
        "end_time_s": pd.Series(t).groupby(group).max().to_numpy(),
        "charge_capacity_ah": charge_ah,
        "discharge_capacity_ah": discharge_ah,
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["coulombic_efficiency"] = np.where(charge_ah > 0, discharge_ah / charge_ah, np.nan)
    scale = np.nan if not active_mass_mg else 1e6 / active_mass_mg  # Ah / mg -> mAh/g
    out["charge_capacity_mah_g"] = charge_ah * scale
    out["discharge_capacity_mah_g"] = discharge_ah * scale
    out["dqdv_peak_charge_v"] = dqdv_peak_v(v, np.clip(dq, 0, None), group, n, dqdv_bin_v)
    out["dqdv_peak_discharge_v"] = dqdv_peak_v(v, np.clip(-dq, 0, None), group, n, dqdv_bin_v)
    return out
