"""NEXAFS tables: one row per spectrum, per spectrum x grid energy, and per spectrum's features."""
from __future__ import annotations

from schemas.core import Column, TableSpec
from schemas.nulls import NullRule

#: flag words of quality_flags / fit_flags and the columns they leave null (schemas/nulls.py)
_NO_BACKGROUND = (("pre_edge_too_short", ("*",)), ("post_edge_too_short", ("*",)), ("e0_not_measured", ("*",)))
_SA_ONLY_FY = ("self-absorption is corrected on raw fluorescence-yield scans only")
_REDUCED = "measurement_id in (select measurement_id from xas_spectra where input_kind = 'xas_spectrum')"
_HEADER = "copied from the file header: null when the file does not say"

EDGE_SOURCES = ["header", "energy_range", "configuration"]
WINDOW_MODES = ["relative", "absolute"]
ROLES = ["sample", "nio_calibration", "ni2_reference", "ni3_reference", "low_valence_reference",
         "high_valence_reference", "reference"]

XAS_SPECTRA = TableSpec(
    name="xas_spectra",
    grain="spectrum (one detection mode of one scan)",
    key=("measurement_id",),
    columns=(
        Column("edge", "string", "", "absorption edge <Element>_<level> of any xraydb edge, e.g. Ni_L, O_K, Fe_K, La_M",
               nullable=False),
        Column("element", "string", "", "absorbing element", nullable=False),
        Column("edge_source", "string", "", "who named the edge: header | energy_range | configuration "
               "(reader_options.edge)", checks=(("isin", EDGE_SOURCES),)),
        Column("e0_ev", "float64", "eV", "E0: steepest rise near the tabulated edge energy, on the calibrated axis "
               "(null when the scan does not show the edge: flag e0_not_measured)"),
        Column("window_mode", "string", "", "relative (to E0) or absolute pre-/post-edge windows",
               nullable=False, checks=(("isin", WINDOW_MODES),)),
        Column("pre_edge_from_ev", "float64", "eV", "pre-edge window used, low end (calibrated energy)"),
        Column("pre_edge_to_ev", "float64", "eV", "pre-edge window used, high end"),
        Column("post_edge_from_ev", "float64", "eV", "post-edge window used, low end"),
        Column("post_edge_to_ev", "float64", "eV", "post-edge window used, high end"),
        Column("role", "string", "", "sample | nio_calibration | ni2_reference | ni3_reference | "
               "low_valence_reference | high_valence_reference | reference",
               nullable=False, checks=(("isin", ROLES),)),
        Column("input_kind", "string", "", "xas_scan (raw channels) or xas_spectrum (already reduced)", nullable=False),
        Column("layout", "string", "", "file layout the reader recognised (kara, ausync-sxr, nxxas, xdi, ...)"),
        Column("beamline", "string", "", "beamline named in the file"),
        Column("beamtime", "string", "", "beamtime label from the header"),
        Column("scan_id", "string", "", "scan number or name from the header"),
        Column("energy_min_ev", "float64", "eV", "lowest raw energy of the scan", nullable=False),
        Column("energy_max_ev", "float64", "eV", "highest raw energy of the scan", nullable=False),
        Column("n_points", "int64", "1", "raw points in the scan", nullable=False),
        Column("calibration_shift_ev", "float64", "eV", "added to the raw energy axis", checks=(("finite", None),)),
        Column("calibration_source", "string", "", "reference_channel | nio_scan | own_nio_peak | none", nullable=False),
        Column("edge_step", "float64", "1", "edge step of signal/I0 after the pre-edge line (units of the ratio)"),
        Column("i0_drift_pct", "float64", "%", "(max - min)/mean of the dark-corrected I0 over the scan"),
        Column("dark_signal", "float64", "", "dark value subtracted from the yield channel (channel unit)"),
        Column("dark_i0", "float64", "", "dark value subtracted from I0 (channel unit)"),
        Column("ring_current_ma", "float64", "mA", "storage ring current"),
        Column("dwell_s", "float64", "s", "counting time per point"),
        Column("self_absorption_ratio", "float64", "1",
               "r = (mu_background + g mu(E_fluo)) / mu_edge_jump used for FY (null when not corrected)"),
        Column("quality_flags", "string", "", "comma-separated: uncalibrated, dropped channels, "
               "<window>_too_short, e0_not_measured, ..."),
    ),
    nulls=NullRule(reasons="quality_flags", covers=_NO_BACKGROUND, when=(
        ("self_absorption_ratio", "mode <> 'FY' or input_kind <> 'xas_scan'", _SA_ONLY_FY),
        ("i0_drift_pct", "input_kind <> 'xas_scan'", "a reduced spectrum carries no I0")),
        not_features=(("dark_signal", _HEADER), ("dark_i0", _HEADER), ("ring_current_ma", _HEADER),
                      ("dwell_s", _HEADER))),
)

XAS_POINTS = TableSpec(
    name="xas_points",
    grain="spectrum x energy of the common grid of its edge",
    key=("measurement_id", "energy_ev"),
    columns=(
        Column("edge", "string", "", "absorption edge", nullable=False),
        Column("energy_ev", "float64", "eV", "calibrated energy (common grid of the edge)", nullable=False),
        Column("energy_raw_ev", "float64", "eV", "monochromator energy before calibration"),
        Column("signal_raw", "float64", "", "yield channel as read (channel unit; null for reduced inputs)"),
        Column("i0_raw", "float64", "", "I0 as read (channel unit)"),
        Column("signal_dark_corrected", "float64", "", "yield channel minus its dark value"),
        Column("i0_dark_corrected", "float64", "", "I0 minus its dark value"),
        Column("mu_over_i0", "float64", "1", "dark-corrected signal / dark-corrected I0 on the calibrated axis"),
        Column("pre_edge_line", "float64", "1", "linear pre-edge background"),
        Column("mu_pre_edge_subtracted", "float64", "1", "mu_over_i0 minus the pre-edge line"),
        Column("mu_normalised", "float64", "1", "pre-edge-subtracted / edge step (1 above the edge)"),
        Column("step_background", "float64", "1", "arctan step model (L3:L2 = 2:1 for L edges)"),
        Column("mu_sa_corrected", "float64", "1", "FY after self-absorption correction (null for other modes)"),
        Column("mu_final", "float64", "1", "the spectrum the features use: SA-corrected FY, else normalised"),
        Column("mu_minus_step", "float64", "1", "mu_final minus the step background (white-line intensity)"),
    ),
    nulls=NullRule(reasons="quality_flags", via=("xas_spectra", ("measurement_id", "params_id")),
                   covers=_NO_BACKGROUND + (("self_absorption_ratio: not corrected", ("mu_sa_corrected",)),), when=(
        ("mu_sa_corrected", "mode <> 'FY'", _SA_ONLY_FY),
        ("mu_sa_corrected", _REDUCED, _SA_ONLY_FY),
        ("*_raw", _REDUCED, "a reduced spectrum has no raw channels"),
        ("*_dark_corrected", _REDUCED, "a reduced spectrum has no raw channels"))),
)

XAS_FEATURES = TableSpec(
    name="xas_features",
    grain="spectrum",
    key=("measurement_id",),
    columns=(
        Column("edge", "string", "", "absorption edge", nullable=False),
        Column("role", "string", "", "role of the spectrum", nullable=False),
        Column("ni2_fraction", "float64", "1", "Ni2+ share of Ni from the Ni L3 linear combination fit"),
        Column("ni2_fraction_sigma", "float64", "1", "standard error of ni2_fraction"),
        Column("lcf_residual_rms", "float64", "1", "rms residual of the Ni L3 fit"),
        Column("valence_fraction", "float64", "1", "share of the low-valence end member (params valence.<edge>), "
               "non-negative fit bounded to [0, 1]; at a bound: fit_flags valence_fraction_at_bound",
               checks=(("between", (0.0, 1.0)),)),
        Column("valence_fraction_sigma", "float64", "1", "standard error of valence_fraction (free fit)"),
        Column("valence_end_members", "string", "", "low/high end member labels of valence_fraction, e.g. Fe2+/Fe3+"),
        Column("l3_low_high_ratio", "float64", "1", "mean intensity of the low- over the high-energy L3 feature"),
        Column("l3_centroid_ev", "float64", "eV", "centroid of the step-subtracted L3 white line (Ni, Co or Mn)"),
        Column("l3_l2_branching_ratio", "float64", "1", "I(L3) / (I(L3) + I(L2)) of the step-subtracted spectrum"),
        Column("ok_preedge_intensity_ev", "float64", "eV",
               "O K pre-edge (528-531 eV) integral of the step-subtracted spectrum, relative to the edge step"),
        Column("ok_peak_529_ev", "float64", "eV", "position of the ~529 eV O K pre-edge feature"),
        Column("ok_peak_530_ev", "float64", "eV", "position of the ~530 eV O K pre-edge feature"),
        Column("k_half_step_ev", "float64", "eV", "K edge: energy at half of the normalised step"),
        Column("k_white_line_ev", "float64", "eV", "K edge: energy of the white-line maximum"),
        Column("k_first_inflection_ev", "float64", "eV", "K edge: first strong maximum of dmu/dE"),
        Column("fit_flags", "string", "", "why a feature is missing (e.g. no_end_member_references, "
               "post_edge_too_short: <window> holds <n> measured points)"),
    ),
    nulls=NullRule(reasons="fit_flags", covers=_NO_BACKGROUND + (
        ("no_end_member_references", ("ni2_fraction*", "lcf_residual_rms", "valence_fraction*")),
        ("valence_window_too_short", ("valence_fraction*",)))),
)

TABLES = [XAS_SPECTRA, XAS_POINTS, XAS_FEATURES]
