"""GITT: find current pulses between rests and compute per-pulse Weppner–Huggins quantities.

A pulse is a run of constant-sign current no longer than ``max_pulse_s`` with a rest of at least
``min_rest_s`` before and after it. Per pulse: τ, E0 (end of the previous rest), the √t fit of the
pulse voltage (intercept = potential just after the IR step, slope, R²), IR drop, ΔE_t, ΔE_s (end of the
following rest minus E0), the drift |dE/dt| at the end of the following rest (relaxation check), and D
by both Weppner–Huggins forms. Work is vectorised over records with group sums; the pulse loop is over
a few hundred segment boundaries at most.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from tasks.echem import diffusion

CODES = {"rest": 0, "charge": 1, "discharge": -1}


@dataclass(frozen=True)
class GittSettings:
    max_pulse_s: float = 3600.0
    min_rest_s: float = 60.0
    fit_start_fraction: float = 0.05  # √t fit skips the first 5 % of the pulse (double-layer charging)
    drift_window_fraction: float = 0.25  # end-of-rest drift over the last 25 % of the rest
    relaxation_threshold_mv_h: float = 5.0
    area_basis: str = "particle"  # particle | geometric
    particle_radius_um: float = 5.0
    molar_volume_m3_mol: float = 2.06e-5
    molar_mass_g_mol: float = 96.93

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> "GittSettings":
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        return cls(**known)


def segments(condition: np.ndarray) -> pd.DataFrame:
    """Runs of equal condition: start (inclusive) and stop (exclusive) record indices and code."""
    cat = pd.Categorical(condition, categories=list(CODES))
    code = np.array([CODES[c] for c in CODES] + [0], dtype="int64")[cat.codes]  # unknown (-1) -> rest
    change = np.r_[True, code[1:] != code[:-1]]
    start = np.flatnonzero(change)
    stop = np.r_[start[1:], code.size]
    return pd.DataFrame({"start": start, "stop": stop, "code": code[start]})


def find_pulses(time_s: np.ndarray, condition: np.ndarray, s: GittSettings) -> pd.DataFrame:
    """Pulses with their neighbouring rests (segment index arithmetic, no record loop)."""
    seg = segments(condition)
    t = np.asarray(time_s, dtype="float64")
    # a segment lasts until the first record of the next one (cyclers log at step boundaries)
    end_t = np.r_[t[seg["stop"].to_numpy()[:-1]], t[-1]]
    seg["duration_s"] = end_t - t[seg["start"].to_numpy()]
    prev = seg.shift(1)
    nxt = seg.shift(-1)
    ok = ((seg["code"] != 0) & (seg["duration_s"] <= s.max_pulse_s)
          & (prev["code"] == 0) & (prev["duration_s"] >= s.min_rest_s)
          & (nxt["code"] == 0) & (nxt["duration_s"] >= s.min_rest_s))
    pulses = pd.DataFrame({
        "start": seg.loc[ok, "start"].to_numpy(), "stop": seg.loc[ok, "stop"].to_numpy(),
        "code": seg.loc[ok, "code"].to_numpy(), "tau_s": seg.loc[ok, "duration_s"].to_numpy(),
        "rest_before_start": prev.loc[ok, "start"].to_numpy("int64"),
        "rest_start": nxt.loc[ok, "start"].to_numpy("int64"), "rest_stop": nxt.loc[ok, "stop"].to_numpy("int64"),
        "rest_s": nxt.loc[ok, "duration_s"].to_numpy(),
    })
    return pulses


def _group_linear_fit(x: np.ndarray, y: np.ndarray, label: np.ndarray, n_groups: int):
    """Least-squares y = a + b x per group label (label -1 = unused); returns a, b, r²."""
    use = label >= 0
    lab, xx, yy = label[use], x[use], y[use]
    n = np.bincount(lab, minlength=n_groups).astype("float64")
    sx, sy = np.bincount(lab, xx, n_groups), np.bincount(lab, yy, n_groups)
    sxx, sxy, syy = np.bincount(lab, xx * xx, n_groups), np.bincount(lab, xx * yy, n_groups), np.bincount(lab, yy * yy, n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        cxy = sxy - sx * sy / n
        b = cxy / vx
        a = (sy - b * sx) / n
        r2 = np.where(vy > 0, cxy * cxy / (vx * vy), 1.0)
    b[n < 2] = np.nan
    a[n < 2] = np.nan
    return a, b, r2


def _labels(n_records: int, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Record -> group index for non-overlapping [start, stop) ranges, -1 elsewhere."""
    lab = np.full(n_records, -1, dtype="int64")
    delta = np.zeros(n_records + 1, dtype="int64")
    np.add.at(delta, starts, 1)
    np.add.at(delta, stops, -1)
    inside = np.cumsum(delta[:-1]) > 0
    group = np.cumsum(np.isin(np.arange(n_records), starts)) - 1
    lab[inside] = group[inside]
    return lab


def analyse(series: pd.DataFrame, s: GittSettings, *, active_mass_mg: float | None,
            electrode_area_cm2: float | None = None) -> pd.DataFrame:
    """One row per pulse. ``series`` is the canonical record frame (with soc_pct if known)."""
    t = series["time_s"].to_numpy("float64")
    v = series["voltage_v"].to_numpy("float64")
    i = series["current_a"].to_numpy("float64")
    p = find_pulses(t, series["condition"].to_numpy(), s)
    if p.empty:
        return pd.DataFrame()
    n = len(p)
    t0 = t[p["start"].to_numpy()]
    # √t fit over the pulse after its first fraction
    lab = _labels(len(t), p["start"].to_numpy(), p["stop"].to_numpy())
    rel = np.where(lab >= 0, t - t0[np.clip(lab, 0, None)], np.nan)
    tau = p["tau_s"].to_numpy()
    fit_lab = np.where((lab >= 0) & (rel >= s.fit_start_fraction * tau[np.clip(lab, 0, None)]), lab, -1)
    a, b, r2 = _group_linear_fit(np.sqrt(np.nan_to_num(rel)), v, fit_lab, n)
    # drift at the end of the following rest
    rest_start, rest_stop = p["rest_start"].to_numpy(), p["rest_stop"].to_numpy()
    rest_len = t[rest_stop - 1] - t[rest_start]
    window_start_t = t[rest_stop - 1] - s.drift_window_fraction * rest_len
    rlab = _labels(len(t), rest_start, rest_stop)
    in_window = (rlab >= 0) & (t >= window_start_t[np.clip(rlab, 0, None)])
    _, drift_v_s, _ = _group_linear_fit(t, v, np.where(in_window, rlab, -1), n)
    e0 = v[p["start"].to_numpy() - 1]  # last record of the previous rest
    e_end_pulse = v[p["stop"].to_numpy() - 1]
    e_end_rest = v[rest_stop - 1]
    inside = lab >= 0
    current = np.bincount(lab[inside], i[inside], n) / np.bincount(lab[inside], minlength=n)
    out = pd.DataFrame({
        "pulse_index": np.arange(n, dtype="int64"),
        "direction": np.where(p["code"].to_numpy() > 0, "charge", "discharge"),
        "start_time_s": t0,
        "tau_s": tau,
        "current_a": current,
        "e0_v": e0,
        "ir_drop_v": a - e0,
        "delta_et_v": e_end_pulse - a,
        "delta_es_v": e_end_rest - e0,
        "sqrt_t_slope_v_per_sqrt_s": b,
        "sqrt_t_r2": r2,
        "rest_s": p["rest_s"].to_numpy(),
        "end_rest_drift_mv_h": np.abs(drift_v_s) * 3.6e6,
    })
    out["relaxed"] = out["end_rest_drift_mv_h"] <= s.relaxation_threshold_mv_h
    if "soc_pct" in series:
        soc = series["soc_pct"].to_numpy("float64")
        out["soc_pct"] = soc[p["stop"].to_numpy() - 1]
    else:
        out["soc_pct"] = np.nan
    mass_g = np.nan if active_mass_mg is None else active_mass_mg * 1e-3
    if s.area_basis == "particle":
        area = diffusion.particle_area_m2(mass_g, s.molar_volume_m3_mol, s.molar_mass_g_mol, s.particle_radius_um * 1e-6)
    elif s.area_basis == "geometric":
        area = np.nan if electrode_area_cm2 is None else electrode_area_cm2 * 1e-4
    else:
        raise ValueError(f"gitt.area_basis must be 'particle' or 'geometric', got {s.area_basis!r}")
    common = dict(active_mass_g=mass_g, molar_volume_m3_mol=s.molar_volume_m3_mol,
                  molar_mass_g_mol=s.molar_mass_g_mol, area_m2=area)
    out["d_m2_s"] = diffusion.d_from_ratio(tau, out["delta_es_v"].abs(), out["delta_et_v"].abs(), **common)
    out["d_sqrt_t_m2_s"] = diffusion.d_from_sqrt_slope(tau, out["delta_es_v"].abs(),
                                                       out["sqrt_t_slope_v_per_sqrt_s"].abs(), **common)
    out["area_basis"] = s.area_basis
    out["area_m2"] = area
    out["particle_radius_um"] = s.particle_radius_um if s.area_basis == "particle" else np.nan
    out["molar_volume_m3_mol"] = s.molar_volume_m3_mol
    out["molar_mass_g_mol"] = s.molar_mass_g_mol
    out["active_mass_mg"] = np.nan if active_mass_mg is None else active_mass_mg
    return out
