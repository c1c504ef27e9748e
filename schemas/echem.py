"""Table contracts of the electrochemistry technique (cycler records, cycles, GITT pulses, sample SOC)."""
from __future__ import annotations

from schemas.core import NULL_REASONS, Column, TableSpec
from schemas.nulls import NullRule
from schemas.platform import NOMINAL_SOC

CELL = Column("cell_id", "string", description="cycler cell id from the campaign config (share mapping)")

ECHEM_SERIES = TableSpec(
    name="echem_series",
    grain="cell x cycler record",
    key=("measurement_id", "record_index"),
    columns=(
        CELL,
        Column("record_index", "int64", "1", "record number after sorting by the vendor's data point", nullable=False),
        Column("time_s", "float64", "s", "seconds since the first record, monotonic (clock jumps removed)",
               nullable=False, checks=(("ge", 0),)),
        Column("timestamp", "timestamp", "UTC", "absolute time; null when the file has no start time"),
        Column("current_a", "float64", "A", "current, charge (oxidation of the cathode) positive", nullable=False),
        Column("voltage_v", "float64", "V", "cell voltage", checks=(("finite", None),)),
        Column("charge_ah", "float64", "Ah", "cumulative net charge (trapezoid integral of current)", nullable=False),
        Column("step", "int64", "1", "vendor step number (-1 when not logged)", nullable=False),
        Column("cycle", "int64", "1", "vendor cycle number (-1 when not logged)", nullable=False),
        Column("condition", "string", "", "rest | charge | discharge from the current sign", nullable=False,
               checks=(("isin", ["rest", "charge", "discharge"]),)),
        Column("soc_pct", "float64", "%", "coulomb counting since the last lower cut-off / (active mass x "
                                          "nominal capacity); null without a cell config"),
        Column("clock_jump", "bool", "", "the vendor wall clock stepped backwards just before this record",
               nullable=False),
        Column("vendor_capacity_ah", "float64", "Ah", "the file's own net capacity counter, when it has one"),
        NULL_REASONS,
    ),
    nulls=NullRule(reasons="null_reasons", not_features=(("vendor_capacity_ah", "copied from the file: null in files without such a counter"),)),
)

ECHEM_CYCLES = TableSpec(
    name="echem_cycles",
    grain="cell x cycle",
    key=("measurement_id", "cycle"),
    columns=(
        CELL,
        Column("cycle", "int64", "1", "vendor cycle number", nullable=False),
        Column("start_time_s", "float64", "s", "first record of the cycle"),
        Column("end_time_s", "float64", "s", "last record of the cycle"),
        Column("charge_capacity_ah", "float64", "Ah", "charge passed on charge", checks=(("ge", 0),)),
        Column("discharge_capacity_ah", "float64", "Ah", "charge passed on discharge", checks=(("ge", 0),)),
        Column("charge_capacity_mah_g", "float64", "mAh/g", "per g of active material (config or file mass)"),
        Column("discharge_capacity_mah_g", "float64", "mAh/g", "per g of active material"),
        Column("coulombic_efficiency", "float64", "1", "discharge / charge capacity"),
        Column("dqdv_peak_charge_v", "float64", "V", "voltage of the largest dQ/dV on charge"),
        Column("dqdv_peak_discharge_v", "float64", "V", "voltage of the largest dQ/dV on discharge"),
        NULL_REASONS,
    ),
    nulls=NullRule(reasons="null_reasons", when=(
        ("*discharge*", "coalesce(discharge_capacity_ah, 0) = 0", "the cycle holds no discharge"),
        ("dqdv_peak_charge_v", "coalesce(charge_capacity_ah, 0) = 0", "the cycle holds no charge"),
        ("charge_capacity_mah_g", "coalesce(charge_capacity_ah, 0) = 0", "the cycle holds no charge"),
        ("coulombic_efficiency", "coalesce(charge_capacity_ah, 0) = 0", "no charge to divide by"))),
)

GITT_PULSES = TableSpec(
    name="gitt_pulses",
    grain="GITT pulse",
    key=("measurement_id", "pulse_index"),
    columns=(
        CELL,
        Column("pulse_index", "int64", "1", "pulse number in the file", nullable=False),
        Column("direction", "string", "", "charge | discharge", nullable=False, checks=(("isin", ["charge", "discharge"]),)),
        Column("start_time_s", "float64", "s", "first record of the pulse"),
        Column("tau_s", "float64", "s", "pulse duration", checks=(("gt", 0),)),
        Column("current_a", "float64", "A", "mean pulse current"),
        Column("soc_pct", "float64", "%", "coulomb-counted SOC at the end of the pulse"),
        Column("e0_v", "float64", "V", "voltage at the end of the preceding rest"),
        Column("ir_drop_v", "float64", "V", "intercept of the E vs sqrt(t) fit minus E0"),
        Column("delta_et_v", "float64", "V", "transient change during the pulse without the IR step"),
        Column("delta_es_v", "float64", "V", "steady-state change: end of the following rest minus E0"),
        Column("sqrt_t_slope_v_per_sqrt_s", "float64", "V/s^0.5", "slope dE/d(sqrt t) during the pulse"),
        Column("sqrt_t_r2", "float64", "1", "linearity of E vs sqrt(t) (coefficient of determination)"),
        Column("rest_s", "float64", "s", "duration of the following rest"),
        Column("end_rest_drift_mv_h", "float64", "mV/h", "|dE/dt| at the end of the following rest"),
        Column("relaxed", "bool", "", "end-of-rest drift at or below the threshold in params", nullable=False),
        Column("d_m2_s", "float64", "m^2/s", "Weppner-Huggins D from (dEs/dEt)^2"),
        Column("d_sqrt_t_m2_s", "float64", "m^2/s", "Weppner-Huggins D from dEs and dE/d(sqrt t)"),
        Column("area_basis", "string", "", "particle (spheres of the given radius) | geometric", nullable=False),
        Column("area_m2", "float64", "m^2", "electrochemically active area S used"),
        Column("particle_radius_um", "float64", "um", "particle radius of the particle basis"),
        Column("molar_volume_m3_mol", "float64", "m^3/mol", "molar volume V_M of the active material"),
        Column("molar_mass_g_mol", "float64", "g/mol", "molar mass M_B of the active material"),
        Column("active_mass_mg", "float64", "mg", "active mass m_B"),
        NULL_REASONS,
    ),
    nulls=NullRule(reasons="null_reasons", when=(
        ("particle_radius_um", "area_basis <> 'particle'", "a radius belongs to the particle area basis only"),)),
)

SAMPLE_SOC = TableSpec(
    name="sample_soc",
    grain="sample",
    key=("sample_id",),
    columns=(
        CELL,
        Column("soc_measured_pct", "float64", "%", "coulomb-counted SOC at the harvest point (end of the cell's file)"),
        Column("soc_nominal_pct", "float64", "%", "nominal SOC label from the campaign config"),
        Column("soc_mismatch", "bool", "", "|measured - nominal| above the tolerance in params", nullable=False),
        Column("tolerance_pct", "float64", "%", "tolerance used for soc_mismatch"),
        Column("harvested_at", "timestamp", "UTC", "timestamp of the last record of the cell"),
    ),
    nulls=NullRule(not_features=(NOMINAL_SOC,)),
)

TABLES = [ECHEM_SERIES, ECHEM_CYCLES, GITT_PULSES, SAMPLE_SOC]
