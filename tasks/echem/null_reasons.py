"""Why echem feature columns are null, in words (the ``null_reasons`` column; schemas/nulls.py)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

NO_SOC = "soc_pct: no SOC counted (no cell config with active mass and nominal capacity, nor both in the file)"
NO_MASS = "no active mass (campaign cell config or the file)"
FIT = ("ir_drop_v, delta_et_v, sqrt_t_slope_v_per_sqrt_s, sqrt_t_r2, d_m2_s, d_sqrt_t_m2_s: fewer than 2 records "
       "in the pulse's sqrt(t) fit window (params gitt.fit_start_fraction)")
NO_AREA = "area_m2, d_m2_s, d_sqrt_t_m2_s: no electrode_area_cm2 in the cell config (gitt.area_basis geometric)"
DRIFT = ("end_rest_drift_mv_h: fewer than 2 records at the end of the following rest "
         "(params gitt.drift_window_fraction)")


def join_reasons(n: int, parts: Sequence[tuple[np.ndarray | bool, str]]) -> np.ndarray:
    """Per row, the texts whose mask holds there, joined with '; ' ('' when none)."""
    out = np.full(n, "", dtype=object)
    for mask, text in parts:
        hit = np.broadcast_to(np.asarray(mask, dtype=bool), (n,))
        out[hit] = [f"{prev}; {text}" if prev else text for prev in out[hit]]
    return out


def series_reasons(series: pd.DataFrame) -> np.ndarray:
    return join_reasons(len(series), [(series["soc_pct"].isna().to_numpy(), NO_SOC)])


def cycle_reasons(per_cycle: pd.DataFrame, active_mass_mg: float | None) -> np.ndarray:
    return join_reasons(len(per_cycle), [(not active_mass_mg,
                                          f"charge_capacity_mah_g, discharge_capacity_mah_g: {NO_MASS}")])


def pulse_reasons(pulses: pd.DataFrame, active_mass_mg: float | None, electrode_area_cm2: float | None) -> np.ndarray:
    geometric = pulses["area_basis"].eq("geometric").to_numpy()
    return join_reasons(len(pulses), [
        (not active_mass_mg, f"active_mass_mg, d_m2_s, d_sqrt_t_m2_s: {NO_MASS}"),
        (~geometric & (not active_mass_mg), "area_m2: the particle-basis area needs the active mass"),
        (geometric & (electrode_area_cm2 is None), NO_AREA),
        (pulses["soc_pct"].isna().to_numpy(), NO_SOC),
        (pulses["sqrt_t_slope_v_per_sqrt_s"].isna().to_numpy(), FIT),
        (pulses["end_rest_drift_mv_h"].isna().to_numpy(), DRIFT),
    ])
