"""Contracts of the platform's own tables: campaign, raw files, sightings, attempts, quality, runs."""
from __future__ import annotations

from schemas.core import Column, TableSpec
from schemas.nulls import NullRule

#: a sample's nominal SOC is configuration, not a feature: null where the config gives no label
NOMINAL_SOC = ("soc_nominal_pct", "the label of the campaign config; samples without one (operando, GITT) have none")

SAMPLE_CONFIG = TableSpec(
    name="sample_config",
    grain="sample (from the campaign config; measured SOC is joined in the `samples` view)",
    measurement=False,
    partition_by=(),
    key=("campaign", "sample_id"),
    columns=(
        Column("campaign", "string", nullable=False),
        Column("sample_id", "string", nullable=False),
        Column("series", "string", checks=(("isin", ["cumulative", "polished", "operando", "gitt"]),)),
        Column("branch", "string", checks=(("isin", ["pristine", "charge", "discharge", "cycle"]),)),
        Column("soc_nominal_pct", "float64", "%", "nominal SOC label", checks=(("between", (0, 100)),)),
        Column("cell_id", "string"),
        Column("description", "string"),
    ),
    nulls=NullRule(not_features=(NOMINAL_SOC,)),
)

CELLS = TableSpec(
    name="cells",
    grain="cell",
    measurement=False,
    partition_by=(),
    key=("campaign", "cell_id"),
    columns=(
        Column("campaign", "string", nullable=False),
        Column("cell_id", "string", nullable=False),
        Column("kind", "string"),
        Column("active_mass_mg", "float64", "mg", checks=(("gt", 0),)),
        Column("nominal_capacity_mah_g", "float64", "mAh/g", checks=(("gt", 0),)),
        Column("lower_cutoff_v", "float64", "V"),
        Column("upper_cutoff_v", "float64", "V"),
        Column("electrode_area_cm2", "float64", "cm^2"),
    ),
)

RAW_FILES = TableSpec(
    name="raw_files",
    grain="distinct raw file (by content)",
    measurement=False,
    partition_by=(),
    key=("raw_sha256",),
    columns=(
        Column("raw_sha256", "string", nullable=False),
        Column("campaign", "string", nullable=False),
        Column("technique", "string", nullable=False),
        Column("sample_id", "string", description="NULL for references and standards"),
        Column("cell_id", "string"),
        Column("original_name", "string", description="file name at first sighting", nullable=False),
        Column("size_bytes", "int64", "B", checks=(("ge", 0),)),
        Column("is_bundle", "bool", description="a folder taken whole, stored as a zip"),
        Column("store_path", "string", description="path in the content-addressed raw store"),
        Column("first_seen", "timestamp"),
    ),
)

SIGHTINGS = TableSpec(
    name="sightings",
    grain="raw file seen at a share path",
    measurement=False,
    partition_by=(),
    key=("share", "path", "raw_sha256"),
    columns=(
        Column("raw_sha256", "string", nullable=False),
        Column("campaign", "string", nullable=False),
        Column("share", "string", nullable=False),
        Column("path", "string", description="path relative to the share", nullable=False),
        Column("size_bytes", "int64", "B"),
        Column("mtime", "timestamp"),
        Column("first_seen", "timestamp"),
        Column("superseded_at", "timestamp", description="when other content replaced this file at this path; "
                                                          "NULL while it is what the share holds there now"),
    ),
)

INGEST_EVENTS = TableSpec(
    name="ingest_events",
    grain="attempt to turn a raw file into rows (one per file x parameter set x code version)",
    measurement=False,
    partition_by=(),
    key=("raw_sha256", "stage", "params_id", "code_version"),
    columns=(
        Column("raw_sha256", "string", nullable=False),
        Column("campaign", "string", nullable=False),
        Column("technique", "string"),
        Column("sample_id", "string"),
        Column("stage", "string", checks=(("isin", ["intake", "process", "finalize"]),), nullable=False),
        Column("status", "string", checks=(("isin", ["ok", "quarantined", "refused", "ignored"]),), nullable=False),
        Column("reason", "string", description="why a file was quarantined, and what to do next"),
        Column("error_type", "string"),
        Column("traceback_digest", "string", description="sha256[:12] of the traceback, to group identical failures"),
        Column("reader", "string"),
        Column("params_id", "string", nullable=False),
        Column("code_version", "string", nullable=False, description="hash of socscope + reader versions"),
        Column("settings_id", "string", description="digest of the campaign settings, share options and sample "
               "facts the file was read under (foundation.ledger.settings_digest)"),
        Column("rows_written", "int64", "1"),
        Column("flow_run_id", "string"),
        Column("attempted_at", "timestamp", nullable=False),
        Column("original_name", "string"),
    ),
)

QUALITY = TableSpec(
    name="quality",
    grain="check result on a measurement or table",
    measurement=False,
    partition_by=(),
    key=("subject", "check_name", "params_id"),
    columns=(
        Column("campaign", "string", nullable=False),
        Column("technique", "string"),
        Column("subject", "string", description="measurement_id, raw sha256 or table name", nullable=False),
        Column("check_name", "string", nullable=False),
        Column("passed", "bool", nullable=False),
        Column("value", "float64", description="the number checked (unit in `unit`)"),
        Column("unit", "string"),
        Column("detail", "string", description="what the check saw, in words; names `value` when it is null and why"),
        Column("params_id", "string", nullable=False),
        Column("checked_at", "timestamp"),
    ),
    nulls=NullRule(reasons="detail"),
)

WARNINGS = TableSpec(
    name="warnings",
    grain="one reason not to trust a computed value as is (a file, a sample or a feature pair), per code",
    measurement=False,
    partition_by=(),
    key=("warning_key",),
    columns=(
        Column("warning_key", "string", description="sha256[:16] of technique|code|sample|raw file|subject",
               nullable=False),
        Column("campaign", "string", nullable=False),
        Column("technique", "string", description="the technique that raised it, or 'marts'", nullable=False),
        Column("sample_id", "string", description="NULL when it concerns no one sample (a feature pair)"),
        Column("raw_sha256", "string", description="raw file the warning is about (lineage); NULL for marts"),
        Column("original_name", "string", description="file name at first sighting"),
        Column("subject", "string", description="what exactly: a measurement_id, a feature pair"),
        Column("code", "string", description="soc_mismatch, esm_uncorrected, segmentation_implausible, "
               "interpolated_only_correlation, fit_at_bound, clock_jump, ...", nullable=False),
        Column("message", "string", description="what is wrong and what to do, in words", nullable=False),
        Column("since", "timestamp", "UTC", "when this warning was first seen", nullable=False),
        Column("seen_at", "timestamp", "UTC", "when it was last found (the latest marts build)", nullable=False),
        Column("flow_run_id", "string", description="the run that first found it"),
        Column("params_id", "string", description="marts parameter set of the build that found it"),
    ),
)

PARAM_SETS = TableSpec(
    name="param_sets",
    grain="parameter set version used by a technique",
    measurement=False,
    partition_by=(),
    key=("technique", "params_id"),
    columns=(
        Column("technique", "string", nullable=False),
        Column("params_id", "string", nullable=False),
        Column("name", "string"),
        Column("version", "int64"),
        Column("values_json", "string"),
        Column("active", "bool", nullable=False, description="the version `current_*` views select"),
        Column("registered_at", "timestamp"),
    ),
)

FLOW_RUNS = TableSpec(
    name="flow_runs",
    grain="flow run (a log: grows with every run)",
    measurement=False,
    partition_by=(),
    key=("flow_run_id", "step"),
    columns=(
        Column("flow_run_id", "string", nullable=False),
        Column("campaign", "string", nullable=False),
        Column("step", "string", nullable=False),
        Column("started_at", "timestamp"),
        Column("finished_at", "timestamp"),
        Column("files_seen", "int64", "1"),
        Column("files_new", "int64", "1"),
        Column("files_processed", "int64", "1"),
        Column("files_quarantined", "int64", "1"),
        Column("rows_written", "int64", "1"),
        Column("detail_json", "string"),
    ),
)

DECISIONS = TableSpec(
    name="decisions",
    grain="a person's decision about one file (a log: `socscope ignore` / `unignore`; the latest one holds)",
    measurement=False,
    partition_by=(),
    key=("target", "decided_at"),
    columns=(
        Column("target", "string", nullable=False, description="raw file sha256, or the path key of a share path"),
        Column("campaign", "string", nullable=False),
        Column("action", "string", checks=(("isin", ["ignore", "unignore"]),), nullable=False),
        Column("who", "string", nullable=False, description="the account that decided"),
        Column("why", "string", nullable=False),
        Column("decided_at", "timestamp", nullable=False),
        Column("technique", "string"),
        Column("sample_id", "string"),
        Column("share", "string"),
        Column("path", "string", description="path relative to the share"),
    ),
)

PLATFORM_TABLES = [SAMPLE_CONFIG, CELLS, RAW_FILES, SIGHTINGS, INGEST_EVENTS, QUALITY, WARNINGS, PARAM_SETS, FLOW_RUNS,
                   DECISIONS]
