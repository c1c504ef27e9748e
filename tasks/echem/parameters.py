"""The model of the echem parameter set (tasks/echem/params/default.yaml).

Every key is optional: the code reads each with a default (tasks/echem/features.py, plugin.py,
gitt.GittSettings), and the defaults here are those.
"""
from __future__ import annotations

from typing import Literal

from pydantic import StrictFloat, StrictInt

from foundation.parameters import UNITLESS, ParameterModel, quantity, section, setting


class SocParameters(ParameterModel):
    cutoff_tolerance_v: StrictFloat = quantity(
        "V", "a record this close to the lower cut-off (discharging or at rest) resets SOC to 0", 0.01, ge=0)
    mismatch_tolerance_pct: StrictFloat = quantity(
        "%", "sample_soc.soc_mismatch when |measured - nominal| SOC exceeds this (percentage points)", 2.0, ge=0)


class CyclesParameters(ParameterModel):
    dqdv_bin_v: StrictFloat = quantity("V", "voltage bin of the dQ/dV histogram", 0.005, gt=0)


class GittParameters(ParameterModel):
    min_pulses: StrictInt = quantity(UNITLESS, "a file is analysed as GITT when at least this many pulses are found",
                                     5, ge=1)
    max_pulse_s: StrictFloat = quantity(
        "s", "a current run longer than this is a plain charge/discharge, not a titration pulse", 3600.0, gt=0)
    min_rest_s: StrictFloat = quantity("s", "a pulse needs rests at least this long before and after it", 60.0, gt=0)
    fit_start_fraction: StrictFloat = quantity(
        UNITLESS, "fraction of each pulse skipped by the E vs sqrt(t) fit (double-layer charging)", 0.05, ge=0, lt=1)
    drift_window_fraction: StrictFloat = quantity(
        UNITLESS, "end-of-rest drift is the slope over this last fraction of the rest", 0.25, gt=0, le=1)
    relaxation_threshold_mv_h: StrictFloat = quantity(
        "mV/h", "a rest counts as relaxed when |dE/dt| at its end is at most this", 5.0, ge=0)
    area_basis: Literal["particle", "geometric"] = setting(
        "area S in Weppner-Huggins: spheres of particle_radius_um, or the cell's geometric electrode area", "particle")
    particle_radius_um: StrictFloat = quantity("um", "radius of the spherical particles (area_basis particle)", 5.0,
                                               gt=0)
    molar_volume_m3_mol: StrictFloat = quantity("m^3/mol", "molar volume V_M of the active material", 2.06e-5, gt=0)
    molar_mass_g_mol: StrictFloat = quantity("g/mol", "molar mass M of the active material", 96.93, gt=0)


class EchemParameters(ParameterModel):
    """Cycler records: SOC by coulomb counting, per-cycle figures, GITT pulses and diffusion."""

    soc: SocParameters = section("SOC: coulomb counting since the cell last reached its lower cut-off",
                                 default_factory=SocParameters)
    cycles: CyclesParameters = section("capacities, coulombic efficiency, dQ/dV", default_factory=CyclesParameters)
    gitt: GittParameters = section("GITT: pulse detection and Weppner-Huggins", default_factory=GittParameters)
