"""Why a map's feature columns are null, in words (afm_maps.null_reasons; schemas/nulls.py).

A channel the file does not hold leaves its pixel column and every statistic of it null: the reason
names the pixel column ("no current_pa channel in this ESM map"), and the AFM tables' null rule
(schemas/afm.py) says which statistics each such phrase covers.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

RIM_CORE = ("esm_rim_core_ratio", "current_rim_core_ratio", "crf_rim_minus_core_khz")


def map_null_reasons(mode: str | None, channels: Mapping[str, np.ndarray | None], row: Mapping[str, Any],
                     region_code: np.ndarray) -> str:
    kind = f"{mode} map" if mode else "map of no known mode"
    reasons = [f"no {column} channel in this {kind}" for column, arr in channels.items() if arr is None]
    if row.get("drive_amplitude_v") is None and mode != "ESM":
        reasons.append(f"drive_amplitude_v, q_mean: no piezoresponse drive in this {kind}")
    if channels.get("current_pa") is not None and row.get("saturated_fraction") is None:
        reasons.append("saturated_fraction: no amplifier full scale (params cafm.full_scale_a, or the ORCA gain "
                       "in the file)")
    if not ((region_code == 1).any() and (region_code == 2).any()):
        reasons.append(f"{', '.join(RIM_CORE)}: the particles hold no rim or no core pixels")
    return "; ".join(reasons)
