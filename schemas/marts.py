"""Contracts of the marts: SOC profiles, correlations, pixel correlations, findings, their lineage."""
from __future__ import annotations

from schemas.core import Column, TableSpec
from schemas.nulls import NullRule
from schemas.platform import NOMINAL_SOC

MART_LINEAGE = (
    Column("params_id", "string", description="marts parameter set name@version#digest", nullable=False),
    Column("flow_run_id", "string", description="Prefect flow run that built the row"),
    Column("processed_at", "timestamp", description="when the row was built (UTC)", nullable=False),
)

SOC_PROFILE = TableSpec(
    name="soc_profile",
    grain="sample x technique feature (long form)",
    measurement=False,
    partition_by=(),
    key=("profile_key",),
    columns=(
        Column("profile_key", "string", description="sha256[:16] of sample|technique|mode|feature|interpolated",
               nullable=False),
        Column("campaign", "string", nullable=False),
        Column("sample_id", "string", nullable=False),
        Column("series", "string"),
        Column("branch", "string", description="pristine | charge | discharge (for binned operando rows: of the bin)"),
        Column("soc_nominal_pct", "float64", "%"),
        Column("soc_measured_pct", "float64", "%"),
        Column("soc_pct", "float64", "%", "SOC the value belongs to: measured if known, else nominal; bin "
                                         "centre for operando/GITT rows"),
        Column("technique", "string", nullable=False),
        Column("mode", "string"),
        Column("feature", "string", nullable=False),
        Column("unit", "string", description="unit of mean, std and the interval", nullable=False),
        Column("observation", "string", description="what one value is: map, particle, spectrum, pattern, pulse"),
        Column("mean", "float64", description="mean over observations (unit in `unit`)"),
        Column("std", "float64", description="sample standard deviation over observations"),
        Column("n", "int64", "1", "number of observations", checks=(("ge", 0),)),
        Column("ci_low", "float64", description="bootstrap 95 % interval of the mean, lower"),
        Column("ci_high", "float64", description="bootstrap 95 % interval of the mean, upper"),
        Column("interpolated", "bool", description="interpolated along SOC from other samples", nullable=False),
        Column("source_samples", "string", description="samples the value comes from (comma separated)"),
        *MART_LINEAGE,
    ),
    nulls=NullRule(not_features=(NOMINAL_SOC,), when=(
        ("std", "n < 2", "a standard deviation needs two observations"),
        ("std", "interpolated", "an interpolated value has no spread of its own"),
        ("ci_*", "interpolated", "an interpolated value has no bootstrap interval"),
        ("soc_measured_pct", "sample_id not in (select sample_id from samples where soc_measured_pct is not null)",
         "no cycler record measures the sample's SOC"))),
)

SOC_PROFILE_LINEAGE = TableSpec(
    name="soc_profile_lineage",
    grain="soc_profile row x raw file",
    measurement=False,
    partition_by=(),
    key=("profile_key", "raw_sha256"),
    columns=(
        Column("profile_key", "string", nullable=False),
        Column("raw_sha256", "string", nullable=False),
        Column("n_observations", "int64", "1"),
        *MART_LINEAGE,
    ),
)

CORRELATIONS = TableSpec(
    name="correlations",
    grain="feature pair (or feature vs SOC) x series x branch",
    measurement=False,
    partition_by=(),
    key=("series", "branch", "feature_x", "feature_y"),
    columns=(
        Column("campaign", "string", nullable=False),
        Column("series", "string", description="a series, or 'all'", nullable=False),
        Column("branch", "string", description="charge | discharge | pooled", nullable=False),
        Column("feature_x", "string", description="technique:mode:feature, or soc_pct", nullable=False),
        Column("feature_y", "string", nullable=False),
        Column("n", "int64", "1", "samples with both values", checks=(("ge", 0),)),
        Column("pearson_r", "float64", "1"),
        Column("spearman_rho", "float64", "1"),
        Column("ci_low", "float64", "1", "bootstrap 95 % interval of pearson_r, lower"),
        Column("ci_high", "float64", "1", "bootstrap 95 % interval of pearson_r, upper"),
        Column("n_interpolated", "int64", "1", "how many of the n points use an interpolated value"),
        Column("n_measured_x", "int64", "1", "of the n points, those whose feature_x value is measured (not "
               "interpolated along SOC)", checks=(("ge", 0),)),
        Column("n_measured_y", "int64", "1", "the same for feature_y", checks=(("ge", 0),)),
        Column("trivial", "string", description="why the pair says nothing about the material (a feature and "
               "its own variant, identical sources); NULL when it may"),
        Column("ranked", "bool", description="ranked by strongest_correlations and the dashboard: at least "
               "correlations.min_measured_per_side measured points per side and not trivial", nullable=False),
        Column("samples", "string", description="samples used (comma separated)"),
        *MART_LINEAGE,
    ),
)

PIXEL_CORRELATIONS = TableSpec(
    name="pixel_correlations",
    grain="co-registered ESM x C-AFM map pair (particle_id 0) or particle within it",
    measurement=False,
    partition_by=(),
    key=("pair_id", "particle_id"),
    columns=(
        Column("campaign", "string", nullable=False),
        Column("sample_id", "string"),
        Column("pair_id", "string", description="ESM measurement_id|C-AFM measurement_id", nullable=False),
        Column("particle_id", "int64", "1", "0 = whole overlap", nullable=False),
        Column("n_pixels", "int64", "1"),
        Column("pearson_r", "float64", "1", "ESM amplitude vs current over co-registered pixels"),
        Column("spearman_rho", "float64", "1", "over the whole overlap only (particle_id 0)"),
        *MART_LINEAGE,
    ),
    nulls=NullRule(when=(("spearman_rho", "particle_id > 0", "ranks are computed over the whole overlap only"),)),
)

FINDINGS = TableSpec(
    name="findings",
    grain="claim of SCIENCE.md checked on the warehouse",
    measurement=False,
    partition_by=(),
    key=("claim", "check_name"),
    columns=(
        Column("claim", "int64", "1", "1-7, the numbering of SCIENCE.md", nullable=False,
               checks=(("between", (1, 7)),)),
        Column("check_name", "string", nullable=False),
        Column("title", "string"),
        Column("query", "string", description="the SQL that produced the evidence"),
        Column("statistic", "float64", description="the number the verdict is based on"),
        Column("statistic_name", "string"),
        Column("expected", "string", description="expected direction or range"),
        Column("verdict", "string", nullable=False, checks=(("isin", ["pass", "fail"]),)),
        Column("why", "string", description="what the numbers say, in words"),
        Column("evidence", "string", description="JSON rows with their lineage (raw files, parameter sets)"),
        *MART_LINEAGE,
    ),
)

MART_STATE = TableSpec(
    name="mart_state",
    grain="mart x scope (sample or 'all'): fingerprint of the inputs it was last built from",
    measurement=False,
    partition_by=(),
    key=("mart", "scope"),
    columns=(
        Column("mart", "string", nullable=False),
        Column("scope", "string", nullable=False),
        Column("fingerprint", "string", nullable=False),
        Column("built_at", "timestamp"),
        Column("seconds", "float64", "s", "build time of this scope"),
    ),
)

MART_TABLES = [MART_STATE, SOC_PROFILE, SOC_PROFILE_LINEAGE, CORRELATIONS, PIXEL_CORRELATIONS, FINDINGS]
