"""Table contracts of the SXPD technique (operando powder diffraction, Diamond I11).

Design: ``sxpd_patterns`` holds what one pattern says on its own (lattice, strain, fit quality,
calibration link); ``sxpd_alignment`` (written by finalize, after the cycler records are in) holds
the pattern's place on the cell's cycle (voltage, charge, SOC, branch). The view
``sxpd_patterns_soc`` joins the two, so re-aligning with a new clock offset rewrites one small
table and never refits a pattern.
"""
from __future__ import annotations

from schemas.core import Column, TableSpec
from schemas.nulls import NullRule

_POS = (("ge", 0),)
_FLAGS = "semicolon-separated quality flags; empty when none"

SXPD_CALIBRATIONS = TableSpec(
    name="sxpd_calibrations",
    grain="one standard pattern (Si) of a beamtime: wavelength, zero offset, instrument widths",
    key=("measurement_id",),
    columns=(
        Column("calibration_id", "string", description="= measurement_id of the standard pattern", nullable=False),
        Column("beamtime", "string", description="experiment/visit id from the file or the campaign settings"),
        Column("measured_at", "timestamp", description="start of the standard's scan (UTC)"),
        Column("scan_number", "int64", unit="1", description="beamline scan number"),
        Column("standard", "string", description="calibration standard, e.g. Si", nullable=False),
        Column("standard_a_angstrom", "float64", "angstrom", "lattice parameter held fixed", nullable=False),
        Column("wavelength_angstrom", "float64", "angstrom", "fitted wavelength", nullable=False, checks=(("gt", 0),)),
        Column("wavelength_sigma_angstrom", "float64", "angstrom", "1σ of the wavelength", checks=_POS),
        Column("zero_offset_deg", "float64", "deg", "2θ zero offset: 2θ_obs = 2θ_Bragg + offset"),
        Column("zero_offset_sigma_deg", "float64", "deg", "1σ of the zero offset", checks=_POS),
        Column("caglioti_u_deg2", "float64", "deg^2", "instrument FWHM² = U tan²θ + V tanθ + W"),
        Column("caglioti_v_deg2", "float64", "deg^2", "Caglioti V"),
        Column("caglioti_w_deg2", "float64", "deg^2", "Caglioti W"),
        Column("rms_residual_deg", "float64", "deg", "RMS of observed − calculated standard positions", checks=_POS),
        Column("max_residual_deg", "float64", "deg", "largest |residual| among the used reflections", checks=_POS),
        Column("n_reflections", "int64", "1", "standard reflections used in the fit", checks=(("ge", 4),)),
        Column("n_rejected", "int64", "1", "fitted reflections rejected as outliers", checks=_POS),
        Column("asymmetry_below_deg", "float64", "deg", "split pseudo-Voigt refined below this 2θ"),
    ),
)

SXPD_PATTERNS = TableSpec(
    name="sxpd_patterns",
    grain="one diffraction pattern of a sample: lattice, strain, fit quality",
    key=("measurement_id",),
    columns=(
        Column("scan_number", "int64", "1", "beamline scan number"),
        Column("measured_at", "timestamp", description="middle of the exposure when known, else its start (UTC)"),
        Column("source_format", "string", description="xye | nexus-gda-xye | nexus-dawn | nexus-nxdata"),
        Column("n_points", "int64", "1", "points in the pattern", checks=_POS),
        Column("two_theta_max_deg", "float64", "deg", "highest 2θ of the pattern"),
        Column("calibration_id", "string", description="sxpd_calibrations row used (null when configured)"),
        Column("wavelength_source", "string", description="calibration | configured | file",
               checks=(("isin", ["calibration", "configured", "file"]),), nullable=False),
        Column("wavelength_angstrom", "float64", "angstrom", "wavelength used", nullable=False, checks=(("gt", 0),)),
        Column("zero_offset_deg", "float64", "deg", "calibration zero offset applied"),
        Column("a_angstrom", "float64", "angstrom", "R-3m a (= b)", checks=(("between", (2.5, 3.2)),)),
        Column("a_sigma_angstrom", "float64", "angstrom", "1σ of a", checks=_POS),
        Column("c_angstrom", "float64", "angstrom", "R-3m c", checks=(("between", (13.0, 15.5)),)),
        Column("c_sigma_angstrom", "float64", "angstrom", "1σ of c", checks=_POS),
        Column("volume_a3", "float64", "angstrom^3", "hexagonal cell volume √3/2·a²·c", checks=_POS),
        Column("volume_sigma_a3", "float64", "angstrom^3", "1σ of the volume", checks=_POS),
        Column("c_over_a", "float64", "1", "c/a"),
        Column("zero_shift_deg", "float64", "deg", "per-pattern zero shift on top of the calibration"),
        Column("zero_shift_sigma_deg", "float64", "deg", "1σ of the zero shift", checks=_POS),
        Column("lattice_chi2_red", "float64", "1", "reduced χ² of the position fit", checks=_POS),
        Column("lattice_rms_residual_deg", "float64", "deg", "RMS position residual of the used reflections", checks=_POS),
        Column("n_reflections_fitted", "int64", "1", "NCM reflections fitted", checks=_POS),
        Column("n_reflections_used", "int64", "1", "NCM reflections used for a and c", checks=_POS),
        Column("fit_converged_fraction", "float64", "1", "share of fitted reflections whose window converged",
               checks=(("between", (0, 1)),)),
        Column("median_group_chi2_red", "float64", "1", "median reduced χ² of the peak windows", checks=_POS),
        Column("microstrain_pct", "float64", "%", "Williamson–Hall microstrain ε, all NCM reflections"),
        Column("microstrain_sigma_pct", "float64", "%", "1σ", checks=_POS),
        Column("microstrain_00l_pct", "float64", "%", "W–H microstrain of the 00l family (along c); null if underdetermined"),
        Column("microstrain_00l_sigma_pct", "float64", "%", "1σ", checks=_POS),
        Column("microstrain_hk0_pct", "float64", "%", "W–H microstrain of the hk0 family (in plane); null if underdetermined"),
        Column("microstrain_hk0_sigma_pct", "float64", "%", "1σ", checks=_POS),
        Column("size_nm", "float64", "nm", "W–H coherent domain size (K = scherrer_k); null if unresolved"),
        Column("n_reflections_00l", "int64", "1", "usable 00l reflections", checks=_POS),
        Column("n_reflections_hk0", "int64", "1", "usable hk0 reflections", checks=_POS),
        Column("quality_flags", "string", description=_FLAGS, nullable=False),
    ),
    nulls=NullRule(reasons="quality_flags", covers=(
        ("strain 00l", ("microstrain_00l_*",)), ("strain hk0", ("microstrain_hk0_*",)),
        ("strain overall", ("microstrain_pct", "microstrain_sigma_pct", "size_nm")))),
)

SXPD_PEAKS = TableSpec(
    name="sxpd_peaks",
    grain="one reflection of one pattern (NCM, Al, Li; Si for standards)",
    key=("measurement_id", "phase", "h", "k", "l"),
    columns=(
        Column("phase", "string", description="declared phase name (default NCM, Al, Li; Si for standards)",
               nullable=False),
        Column("h", "int64", "1", "Miller index h (hexagonal setting for NCM)", nullable=False),
        Column("k", "int64", "1", "Miller index k", nullable=False),
        Column("l", "int64", "1", "Miller index l", nullable=False),
        Column("hkl", "string", description="label, e.g. 003, 104, '1 0 10'", nullable=False),
        Column("predicted_deg", "float64", "deg", "starting position (from the searched lattice / phase lattice)"),
        Column("position_deg", "float64", "deg", "fitted peak mode, as measured (calibration zero not removed)"),
        Column("position_sigma_deg", "float64", "deg", "1σ", checks=_POS),
        Column("fwhm_deg", "float64", "deg", "fitted FWHM", checks=_POS),
        Column("fwhm_sigma_deg", "float64", "deg", "1σ", checks=_POS),
        Column("area_counts_deg", "float64", "counts*deg", "integrated intensity", checks=_POS),
        Column("area_sigma_counts_deg", "float64", "counts*deg", "1σ", checks=_POS),
        Column("eta", "float64", "1", "Lorentz fraction of the pseudo-Voigt (shared in its window)"),
        Column("asymmetry", "float64", "1", "split pseudo-Voigt asymmetry α (0 = symmetric)"),
        Column("instrument_fwhm_deg", "float64", "deg", "Caglioti instrument width at this angle", checks=_POS),
        Column("window_id", "int64", "1", "index of the fit window the reflection shared"),
        Column("window_chi2_red", "float64", "1", "reduced χ² of that window", checks=_POS),
        Column("fitted", "bool", description="the reflection was fitted (its window was not too crowded)", nullable=False),
        Column("resolved", "bool", description="no other reflection of its window within min_separation_fwhm widths"),
        Column("used", "bool", description="used for the lattice (NCM) or the calibration (Si)", nullable=False),
        Column("residual_deg", "float64", "deg", "observed − calculated position in the lattice/calibration fit"),
    ),
    nulls=NullRule(when=(
        ("*", "not fitted", "its window was too crowded to fit (fitted = false)"),
        ("residual_deg", "not used", "a residual exists only for reflections used in the lattice or calibration"),
        ("eta", "phase = 'Si'", "the calibration fit of the standard reports no Lorentz fraction"),
        ("window_chi2_red", "phase = 'Si'", "the calibration fit of the standard reports no window χ²"))),
)

SXPD_REFINEMENTS = TableSpec(
    name="sxpd_refinements",
    grain="one row of an external refinement table (FullProf, GSAS-II, TOPAS): a pattern's lattice",
    key=("measurement_id", "row_index"),
    columns=(
        Column("row_index", "int64", "1", "row in the CSV (0-based)", nullable=False),
        Column("pattern", "string", description="pattern name as written in the table", nullable=False),
        Column("scan_number", "int64", "1", "scan number parsed from the pattern name, when present"),
        Column("program", "string", description="refinement program named in the table or its header"),
        Column("a_angstrom", "float64", "angstrom", "refined a", nullable=False),
        Column("a_sigma_angstrom", "float64", "angstrom", "esd of a", checks=_POS),
        Column("c_angstrom", "float64", "angstrom", "refined c", nullable=False),
        Column("c_sigma_angstrom", "float64", "angstrom", "esd of c", checks=_POS),
        Column("volume_a3", "float64", "angstrom^3", "cell volume (given, or √3/2·a²·c)", checks=_POS),
        Column("microstrain_pct", "float64", "%", "microstrain as refined"),
        Column("rwp_pct", "float64", "%", "weighted profile R factor", checks=_POS),
        Column("gof", "float64", "1", "goodness of fit (χ)", checks=_POS),
    ),
)

SXPD_ALIGNMENT = TableSpec(
    name="sxpd_alignment",
    grain="one pattern placed on its cell's cycler record (written by finalize)",
    key=("measurement_id",),
    columns=(
        Column("cell_id", "string", description="cell of the sample (campaign config)"),
        Column("measured_at", "timestamp", description="pattern time (beamline clock, UTC)"),
        Column("elapsed_s", "float64", "s", "seconds since the first pattern of the sample"),
        Column("cycler_time_s", "float64", "s", "the cycler's time_s at the pattern (clock offset applied)"),
        Column("voltage_v", "float64", "V", "cell voltage at the pattern (interpolated)"),
        Column("current_a", "float64", "A", "cell current at the pattern (charge positive)"),
        Column("charge_ah", "float64", "A*h", "charge passed (cycler's counting)"),
        Column("soc_pct", "float64", "%", "SOC from the cycler record", checks=(("between", (-20, 130)),)),
        Column("branch", "string", description="charge | discharge | rest; null when not aligned",
               checks=(("isin", ["charge", "discharge", "rest"]),)),
        Column("clock_offset_s", "float64", "s", "beamline clock − cycler clock used"),
        Column("alignment_flag", "string", description=_FLAGS, nullable=False),
    ),
)

SXPD_SCAN_LOG = TableSpec(
    name="sxpd_scan_log",
    grain="one row of a scan log (I11 / lab operando CSV): a pattern's scan number or file and start time",
    key=("measurement_id", "row_number"),
    columns=(
        Column("row_number", "int64", "1", "data row of the log (1-based, after the header)", nullable=False),
        Column("scan_number", "int64", "1", "scan number, when the log has one"),
        Column("file_name", "string", description="pattern file named by the log, when it has one"),
        Column("start_time", "timestamp", description="start of the scan (UTC)", nullable=False),
        Column("counting_time_s", "float64", "s", "counting time, when the log has one", checks=_POS),
        Column("time_zone", "string", description="zone the log's times were read in", nullable=False),
        Column("time_zone_source", "string", nullable=False,
               description="stated in the log | share option scan_log_timezone | assumed: campaign settings.sxpd.timezone"),
    ),
)

_NOT_OBSERVED = "; null when the phase was not observed or its cell not refined (quality_flags says which)"


_CELL_GLOBS = ("a_*", "b_*", "c_*", "alpha_*", "beta_*", "gamma_*", "volume_*")


def _cell_column(name: str, suffix: str, what: str) -> tuple[Column, Column]:
    unit = {"angstrom3": "angstrom^3"}.get(suffix, suffix)
    return (Column(f"{name}_{suffix}", "float64", unit, f"refined {what}{_NOT_OBSERVED}", checks=(("gt", 0),)),
            Column(f"{name}_sigma_{suffix}", "float64", unit, f"1σ of {what} (0 where fixed by symmetry)", checks=_POS))


SXPD_PHASE_CELLS = TableSpec(
    name="sxpd_phase_cells",
    grain="one declared phase in one sample pattern: refined cell, scale, weight fraction",
    key=("measurement_id", "phase"),
    columns=(
        Column("scan_number", "int64", "1", "beamline scan number"),
        Column("measured_at", "timestamp", description="time of the pattern, as in sxpd_patterns (UTC)"),
        Column("phase", "string", description="phase name as declared (settings.sxpd.phases)", nullable=False),
        Column("role", "string", description="main | secondary | cell_part", nullable=False,
               checks=(("isin", ["main", "secondary", "cell_part"]),)),
        Column("space_group", "string", description="Hermann–Mauguin symbol (gemmi xhm, with setting)", nullable=False),
        Column("crystal_system", "string", description="triclinic … cubic (of the space group)", nullable=False),
        *_cell_column("a", "angstrom", "a"), *_cell_column("b", "angstrom", "b (= a where symmetry says)"),
        *_cell_column("c", "angstrom", "c (= a where symmetry says)"),
        *_cell_column("alpha", "deg", "α"), *_cell_column("beta", "deg", "β"), *_cell_column("gamma", "deg", "γ"),
        *_cell_column("volume", "angstrom3", "cell volume"),
        Column("scale", "float64", "counts*deg", "Pawley areas / (m·|F|²·LP) of the resolved reflections; null "
               "without atom sites or resolved reflections"),
        Column("weight_fraction", "float64", "1", "Hill–Howard weight fraction among the sample's phases (main, "
               "secondary); null for cell parts and when a sample phase has no atom sites", checks=(("between", (0, 1)),)),
        Column("weight_fraction_sigma", "float64", "1", "1σ of the weight fraction (from the scales)", checks=_POS),
        Column("n_reflections", "int64", "1", "reflections of the phase used in the cell refinement", checks=_POS),
        Column("quality_flags", "string", description=_FLAGS + "; names the reason of every null", nullable=False),
    ),
    # the flag words phase_cells.phase_rows writes for each null
    nulls=NullRule(reasons="quality_flags", covers=(
        *((word, _CELL_GLOBS) for word in ("phase_not_observed", "cell_not_refined")),
        *((word, ("scale", "weight_fraction*")) for word in ("no_atom_sites", "no_resolved_reflections")),
        *((word, ("weight_fraction*",)) for word in ("cell_part", "weight_fraction_undetermined",
                                                    "phase_not_observed")))),
)

TABLES = [SXPD_CALIBRATIONS, SXPD_PATTERNS, SXPD_PEAKS, SXPD_REFINEMENTS, SXPD_ALIGNMENT, SXPD_SCAN_LOG,
          SXPD_PHASE_CELLS]
