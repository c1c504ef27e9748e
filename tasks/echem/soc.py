"""State of charge by coulomb counting since the cell last reached its lower cut-off (the reset point)."""
from __future__ import annotations

import numpy as np


def reset_mask(voltage_v: np.ndarray, current_a: np.ndarray, lower_cutoff_v: float, tolerance_v: float) -> np.ndarray:
    """Records where the cell sits at its lower cut-off on discharge or at rest: SOC is 0 there."""
    v = np.asarray(voltage_v, dtype="float64")
    i = np.asarray(current_a, dtype="float64")
    return (v <= lower_cutoff_v + tolerance_v) & (i <= 0)


def soc_pct(charge_ah: np.ndarray, voltage_v: np.ndarray, current_a: np.ndarray, *, active_mass_mg: float,
            nominal_mah_g: float, lower_cutoff_v: float, tolerance_v: float = 0.01) -> np.ndarray:
    """Charge passed since the last reset, divided by active mass x nominal capacity, in %.

    Before the first reset the count starts at the first record (a fresh cell is discharged), so a
    sample harvested on discharge reads ~0 % even after the first-cycle loss.
    """
    q = np.asarray(charge_ah, dtype="float64")
    mask = reset_mask(voltage_v, current_a, lower_cutoff_v, tolerance_v)
    idx = np.arange(q.size)
    last_reset = np.maximum.accumulate(np.where(mask, idx, 0))
    capacity_ah = active_mass_mg * 1e-3 * nominal_mah_g * 1e-3
    return (q - q[last_reset]) / capacity_ah * 100.0


def harvest_soc(soc: np.ndarray) -> float:
    """SOC at the end of the file, i.e. where the cell was stopped and the electrode harvested."""
    s = np.asarray(soc, dtype="float64")
    finite = s[np.isfinite(s)]
    return float(finite[-1]) if finite.size else float("nan")
