"""The one consistent demo world every technique's generator draws from (SCIENCE.md, demo targets).

Generators of different techniques must agree (the operando cycle the SXPD patterns follow is the
cycler file of the same cell; NEXAFS, SXPD and GITT share one SOC axis), so the targets and the
shared cell programs live here, once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np

#: On-charge targets at these SOC points (%), SCIENCE.md "Demo campaign targets".
SOC_POINTS = np.array([0.0, 27.0, 50.0, 55.0, 83.0, 90.0, 100.0])
TARGETS: dict[str, np.ndarray] = {
    "a_angstrom": np.array([2.869, 2.857, 2.846, 2.843, 2.829, 2.825, 2.818]),
    "c_angstrom": np.array([14.210, 14.290, 14.360, 14.375, 14.440, 14.460, 14.380]),
    "microstrain_c_pct": np.array([0.05, 0.06, 0.07, 0.075, 0.10, 0.12, 0.20]),
    "ni2_fraction_fy": np.array([0.33, 0.22, 0.14, 0.12, 0.03, 0.01, 0.00]),
    "ni2_fraction_tey": np.array([0.60, 0.42, 0.30, 0.27, 0.12, 0.08, 0.05]),
    "ok_preedge_rel": np.array([1.00, 1.15, 1.28, 1.30, 1.48, 1.52, 1.60]),
    "log10_d_m2_s": np.log10(np.array([2e-16, 6e-16, 1.3e-15, 1.5e-15, 2.7e-15, 3e-15, 1e-15])),
}


def target(name: str, soc_pct: float | np.ndarray) -> np.ndarray:
    """Target value at any SOC on charge (piecewise linear between the tabulated points)."""
    if name == "d_m2_s":
        return 10 ** np.interp(soc_pct, SOC_POINTS, TARGETS["log10_d_m2_s"])
    return np.interp(soc_pct, SOC_POINTS, TARGETS[name])


def ocv_v(soc_frac: np.ndarray | float) -> np.ndarray:
    """Open-circuit voltage of NCM622 vs Li for SOC as a fraction of 180 mAh/g (3.15 V .. 4.27 V)."""
    s = np.clip(np.asarray(soc_frac, dtype=float), 0.0, 1.0)
    return 3.60 + 0.62 * s + 0.05 * s**6 - 0.45 * (1.0 - s) ** 15


#: Samples whose label is wrong on purpose (a warnings demo): sample -> the SOC (%) its cell really reached.
#: Their maps are plain PFM without a Q source (tasks/afm/demo.py), so they carry no ESM target.
MISLABELLED_SOC_PCT: dict[str, float] = {"C-CH50X": 0.0}


#: Start of the demo beamtime (operando cell, Si standard, NEXAFS scans) in UTC.
BEAMTIME_START = datetime(2026, 5, 4, 8, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class OperandoProgram:
    """First cycle of the operando NCM622/Li cell (half7) at C/3 between 3.0 and 4.3 V.

    Charge takes 0 -> 100 % of 180 mAh/g in 3 h; discharge returns 90 % of it (first-cycle loss),
    ending at the lower cut-off, so coulomb-counted SOC runs 0 -> 100 -> 10 %.
    """

    active_mass_mg: float = 8.0
    nominal_mah_g: float = 180.0
    c_rate: float = 1 / 3
    rest_s: float = 600.0
    first_cycle_loss: float = 0.10
    overpotential_v: float = 0.03
    start: datetime = BEAMTIME_START
    #: open-circuit voltage vs Li of the SOC fraction (the cathode's own curve)
    ocv: Callable[[np.ndarray], np.ndarray] = ocv_v
    material: str = "NCM622"

    @property
    def current_a(self) -> float:
        return self.active_mass_mg * 1e-3 * self.nominal_mah_g * 1e-3 * self.c_rate

    @property
    def charge_s(self) -> float:
        return 3600.0 / self.c_rate

    @property
    def discharge_s(self) -> float:
        return self.charge_s * (1.0 - self.first_cycle_loss)

    @property
    def total_s(self) -> float:
        return self.rest_s + self.charge_s + self.discharge_s

    def state(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Current (A, charge positive), voltage (V), SOC (%) and branch at times since ``start``."""
        t = np.asarray(t_s, dtype=float)
        on_charge = (t >= self.rest_s) & (t < self.rest_s + self.charge_s)
        on_discharge = t >= self.rest_s + self.charge_s
        soc = np.where(t < self.rest_s, 0.0,
                       np.where(on_charge, (t - self.rest_s) / self.charge_s * 100.0,
                                100.0 - (t - self.rest_s - self.charge_s) / self.charge_s * 100.0))
        soc = np.clip(soc, 0.0, 100.0)
        current = np.where(on_charge, self.current_a, np.where(on_discharge, -self.current_a, 0.0))
        eta = np.where(on_charge, self.overpotential_v, np.where(on_discharge, -self.overpotential_v, 0.0))
        # the last 10 % of discharge capacity is lost: voltage falls to the cut-off as SOC nears 10 %
        tail = np.where(on_discharge, np.clip((20.0 - soc) / 10.0, 0.0, 1.0) ** 3 * 0.4, 0.0)
        voltage = np.clip(self.ocv(soc / 100.0) + eta - tail, 3.0, 4.3)
        branch = np.where(t < self.rest_s, "rest", np.where(on_charge, "charge", "discharge"))
        return {"current_a": current, "voltage_v": voltage, "soc_pct": soc, "branch": branch}


def lfp_ocv_v(soc_frac: np.ndarray | float) -> np.ndarray:
    """LiFePO4 vs Li: the two-phase plateau near 3.43 V with steep single-phase ends (3.07 .. 3.71 V)."""
    s = np.clip(np.asarray(soc_frac, dtype=float), 0.0, 1.0)
    return 3.42 + 0.04 * s - 0.35 * (1.0 - s) ** 20 + 0.25 * s**30


#: Start of the olivine beamtime (a second demo campaign, socscope/demo_olivine_campaign.yaml), UTC.
OLIVINE_BEAMTIME_START = datetime(2026, 6, 15, 7, 30, 0, tzinfo=timezone.utc)

#: The operando cells of the demo campaigns, by cell id: the SXPD generator and the cycler file follow the same one.
OPERANDO_PROGRAMS: dict[str, OperandoProgram] = {
    "half7": OperandoProgram(),
    # LiFePO4/Li at C/2, 170 mAh/g; 10 % of the charge is not returned on discharge (SOC 0 -> 100 -> 10 %)
    "lfp1": OperandoProgram(active_mass_mg=6.0, nominal_mah_g=170.0, c_rate=0.5, overpotential_v=0.02,
                            start=OLIVINE_BEAMTIME_START, ocv=lfp_ocv_v, material="LiFePO4"),
}
