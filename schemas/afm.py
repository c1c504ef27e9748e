"""AFM tables: maps, pixels, particles, histograms, radial profiles, ESM × C-AFM pairs.

Per-channel columns are generated from one list so that every table names a channel's unit the
same way (``esm_amp_pm_per_v``, ``current_pa``, ``crf_khz``, ``height_nm``, ``phase_deg``).
"""
from __future__ import annotations

from schemas.core import NULL_REASONS, Column, TableSpec
from schemas.nulls import NullRule

#: canonical pixel channels: column name, unit, description
PIXEL_CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("height_nm", "nm", "flattened topography (plane, scars, line offsets removed)"),
    ("esm_amp_pm_per_v", "pm/V", "ESM amplitude corrected by Q and drive: A / (Q * V_drive)"),
    ("phase_deg", "deg", "ESM phase (DART: mean of the two sidebands)"),
    ("crf_khz", "kHz", "contact-resonance frequency (DART f0 or lock-in PLL)"),
    ("current_pa", "pA", "C-AFM current"),
    ("potential_v", "V", "KPFM surface potential"),
)
#: channels summarised per particle and per map (phase is not averaged: it wraps):
#: short name, pixel column, unit suffix used in derived column names
STAT_CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("esm", "esm_amp_pm_per_v", "pm_per_v"), ("current", "current_pa", "pa"), ("crf", "crf_khz", "khz"),
    ("height", "height_nm", "nm"),
)


def _unit_of(column: str) -> str:
    return next(u for c, u, _ in PIXEL_CHANNELS if c == column)


#: phrases of afm_maps.null_reasons / quality_flags and the columns each explains (schemas/nulls.py)
_COVERS = tuple((f"no {column} channel", (f"{short}_*",)) for short, column, _ in STAT_CHANNELS) + (
    ("no current_pa channel", ("conductive_*", "saturated_fraction")),
    ("no potential_v channel", ("potential_*",)),
    ("esm_not_computed", ("esm_*",)),
    ("esm_not_computed_no_q_source", ("q_mean",)),
    ("esm_not_computed_no_drive_amplitude", ("drive_amplitude_v",)),
    ("segmentation_no_particles", ("*_particles_*", "*rim*", "*core*", "segmentation_class_contrast",
                                   "conductive_area_fraction_particles")),
)
_MAP_KEYS = ("measurement_id", "params_id")
#: child rows of a map take their reasons from the map's row
_FROM_MAP = NullRule(reasons=("quality_flags", "null_reasons"), via=("afm_maps", _MAP_KEYS), covers=_COVERS)


def _stat_columns(prefix_stats: tuple[str, ...], scopes: tuple[str, ...]) -> tuple[Column, ...]:
    cols = []
    for short, column, unit_suffix in STAT_CHANNELS:
        unit = _unit_of(column)
        for scope in scopes:
            for stat in prefix_stats:
                name = f"{short}_{scope + '_' if scope else ''}{stat}_{unit_suffix}"
                cols.append(Column(name, "float64", unit, f"{stat} of {column} over {scope or 'the particle'}"))
    return tuple(cols)


AFM_MAPS = TableSpec(
    name="afm_maps", grain="map",
    columns=(
        Column("original_name", "string", "", "file name on the share"),
        Column("location_tag", "string", "", "location of the map on the sample (pairs ESM with C-AFM maps)"),
        Column("vendor", "string", "", "asylum | bruker | gwyddion"),
        Column("imaging_mode_vendor", "string", "", "imaging mode as the instrument wrote it"),
        Column("mode_evidence", "string", "", "what in the file decided the mode column (tasks/afm/modes.py)"),
        Column("quality_flags", "string", "", "comma-separated: a value not computed (esm_not_computed_no_q_source, "
               "..._no_drive_amplitude) or computed with a default (esm_q_from_config_default, "
               "dart_sideband_width_from_config) or implausible particles (segmentation_low_contrast, "
               "segmentation_one_segment_over_most_of_map, segmentation_stripes, segmentation_no_particles); "
               "empty = none", nullable=False),
        NULL_REASONS,
        Column("channels", "string", "", "channels in the file, comma separated, with roles"),
        Column("scan_size_x_um", "float64", "um", nullable=False, checks=(("gt", 0),)),
        Column("scan_size_y_um", "float64", "um", nullable=False, checks=(("gt", 0),)),
        Column("n_x_px", "int32", "1", nullable=False, checks=(("gt", 1),)),
        Column("n_y_px", "int32", "1", nullable=False, checks=(("gt", 1),)),
        Column("pixel_size_um", "float64", "um", nullable=False, checks=(("gt", 0),)),
        Column("drive_amplitude_v", "float64", "V", "ESM drive amplitude"),
        Column("q_source", "string", "", "dart | metadata | config (a default: flagged); null = no Q, no pm/V"),
        Column("q_mean", "float64", "1", "mean contact-resonance Q used for the correction"),
        Column("tilt_nm", "float64", "nm", "height range of the removed plane (sample tilt)"),
        Column("roughness_rms_nm", "float64", "nm", "residual RMS roughness of the flattened matrix (quality)"),
        Column("n_scar_px", "int32", "1", "pixels replaced as scars"),
        Column("n_particles", "int32", "1", nullable=False, checks=(("ge", 0),)),
        Column("particle_area_fraction", "float64", "1", "share of the map segmented as particles",
               checks=(("between", (0, 1)),)),
        Column("segmentation_class_contrast", "float64", "1", "(mean particles - mean matrix) / pooled std of the "
               "z-scored segmentation channel; NaN when one class is empty; low = particles not to be believed"),
        Column("largest_segment_fraction", "float64", "1", "share of the map in its largest segment (particle)",
               checks=(("between", (0, 1)),)),
        Column("stripe_segment_fraction", "float64", "1", "share of the segmented area in stripe-like segments",
               checks=(("between", (0, 1)),)),
        Column("esm_rim_core_ratio", "float64", "1", "mean ESM of rim pixels / mean of core pixels, all particles"),
        Column("current_rim_core_ratio", "float64", "1", "mean current of rim / core pixels, all particles"),
        Column("crf_rim_minus_core_khz", "float64", "kHz", "mean CRF of rim minus core pixels"),
        Column("conductive_threshold_pa", "float64", "pA"),
        Column("conductive_area_fraction", "float64", "1", "pixels above the threshold, whole image",
               checks=(("between", (0, 1)),)),
        Column("conductive_area_fraction_particles", "float64", "1", "pixels above the threshold, particles only",
               checks=(("between", (0, 1)),)),
        Column("saturated_fraction", "float64", "1", "current pixels at the amplifier full scale"),
        Column("esm_particles_cv", "float64", "1", "std/mean of ESM over particle pixels (distribution width)"),
    ) + tuple(Column(f"potential_{scope}_{stat}_v", "float64", "V", f"KPFM potential {stat} over {scope}")
              for scope in ("all", "particles", "matrix") for stat in ("mean", "std")) + _stat_columns(("mean", "std", "median"), ("all", "particles", "matrix")),
    key=("measurement_id",),
    nulls=NullRule(reasons=("quality_flags", "null_reasons"), covers=_COVERS),
)

AFM_PIXELS = TableSpec(
    name="afm_pixels", grain="pixel",
    columns=(
        Column("x_um", "float32", "um", "fast-axis position of the pixel centre", nullable=False),
        Column("y_um", "float32", "um", "slow-axis position (row order as stored)", nullable=False),
    ) + tuple(Column(c, "float32", u, d) for c, u, d in PIXEL_CHANNELS) + (
        Column("particle_id", "int32", "", "particle label in this map, 0 = matrix", nullable=False),
        Column("dist_to_boundary_um", "float32", "um", "distance to the particle boundary (matrix: to nearest particle)"),
        Column("region", "string", "", "rim | core | matrix", nullable=False, checks=(("isin", ["rim", "core", "matrix"]),)),
    ),
    nulls=_FROM_MAP,
)

AFM_PARTICLES = TableSpec(
    name="afm_particles", grain="particle",
    columns=(
        Column("particle_id", "int32", "", nullable=False, checks=(("gt", 0),)),
        Column("area_um2", "float64", "um2", nullable=False, checks=(("gt", 0),)),
        Column("equivalent_diameter_um", "float64", "um"),
        Column("centroid_x_um", "float64", "um"),
        Column("centroid_y_um", "float64", "um"),
        Column("eccentricity", "float64", "1"),
        Column("solidity", "float64", "1"),
        Column("touches_edge", "bool", "", "cut by the image border (size and rim statistics biased)"),
        Column("n_rim_px", "int32", "1"),
        Column("n_core_px", "int32", "1"),
    ) + _stat_columns(("mean", "median", "std", "p5", "p95"), ("",))
      + _stat_columns(("mean",), ("rim", "core"))
      + tuple(Column(f"{short}_rim_core_ratio", "float64", "1") for short in ("esm", "current", "crf")),
    key=("measurement_id", "particle_id"),
    nulls=NullRule(reasons=_FROM_MAP.reasons, via=_FROM_MAP.via, covers=_COVERS, when=(
        ("*core*", "n_core_px = 0", "no core pixels: the particle is all rim"),
        ("*rim*", "n_rim_px = 0", "no rim pixels"))),
)

AFM_HISTOGRAMS = TableSpec(
    name="afm_histograms", grain="map x region x bin",
    columns=(
        Column("region", "string", "", "all | particles | matrix", nullable=False),
        Column("bin_index", "int32", "1", nullable=False),
    ) + tuple(col for short, column, suffix in STAT_CHANNELS for col in (
        Column(f"{short}_bin_lo_{suffix}", "float64", _unit_of(column)),
        Column(f"{short}_bin_hi_{suffix}", "float64", _unit_of(column)),
        Column(f"{short}_count", "int64", "1", f"pixels of {column} in the bin (null: channel absent)"),
    )),
    key=("measurement_id", "region", "bin_index"),
    nulls=_FROM_MAP,
)

AFM_PROFILES = TableSpec(
    name="afm_profiles", grain="particle x radial bin",
    columns=(
        Column("particle_id", "int32", "", nullable=False),
        Column("bin_index", "int32", "1", nullable=False),
        Column("dist_lo_um", "float64", "um", "inner edge of the bin: distance from the boundary"),
        Column("dist_hi_um", "float64", "um"),
        Column("n_px", "int32", "1"),
    ) + tuple(Column(f"{short}_mean_{suffix}", "float64", _unit_of(column)) for short, column, suffix in STAT_CHANNELS),
    key=("measurement_id", "particle_id", "bin_index"),
    nulls=NullRule(reasons=_FROM_MAP.reasons, via=_FROM_MAP.via, covers=_COVERS,
                   when=(("*_mean_*", "n_px = 0", "no pixel of the particle at this distance"),)),
)

AFM_PAIRS = TableSpec(
    name="afm_pairs", grain="co-registered pixel of an ESM map x a C-AFM map",
    columns=(
        Column("pair_id", "string", "", "esm measurement_id + cafm measurement_id", nullable=False),
        Column("location_tag", "string", ""),
        Column("esm_measurement_id", "string", "", nullable=False),
        Column("cafm_measurement_id", "string", "", nullable=False),
        Column("x_um", "float32", "um", "on the ESM grid", nullable=False),
        Column("y_um", "float32", "um", nullable=False),
        Column("esm_amp_pm_per_v", "float32", "pm/V"),
        Column("current_pa", "float32", "pA", "C-AFM current resampled onto the ESM grid"),
        Column("height_esm_nm", "float32", "nm"),
        Column("height_cafm_nm", "float32", "nm"),
        Column("particle_id", "int32", "", "ESM map's particle label, 0 = matrix"),
        Column("region", "string", "", "rim | core | matrix (from the ESM map)"),
    ),
)

AFM_REGISTRATIONS = TableSpec(
    name="afm_registrations", grain="ESM x C-AFM pair",
    columns=(
        Column("pair_id", "string", "", nullable=False),
        Column("location_tag", "string", ""),
        Column("esm_measurement_id", "string", "", nullable=False),
        Column("cafm_measurement_id", "string", "", nullable=False),
        Column("shift_x_px", "float64", "1", "C-AFM map offset along x relative to ESM (pixels of the ESM grid)"),
        Column("shift_y_px", "float64", "1"),
        Column("shift_x_um", "float64", "um"),
        Column("shift_y_um", "float64", "um"),
        Column("peak_correlation", "float64", "1", "normalised correlation of the aligned topographies"),
        Column("overlap_fraction", "float64", "1", "share of the ESM grid covered by the C-AFM map"),
        Column("n_pixels", "int64", "1"),
        Column("esm_current_pearson_r", "float64", "1", "pixel correlation of ESM amplitude and current"),
        Column("quality_ok", "bool", "", "peak correlation above the parameter threshold"),
    ),
    key=("pair_id",),
)

TABLES = [AFM_MAPS, AFM_PIXELS, AFM_PARTICLES, AFM_HISTOGRAMS, AFM_PROFILES, AFM_PAIRS, AFM_REGISTRATIONS]
