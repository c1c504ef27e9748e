"""The documentation site builds with --strict, and holds every CLI command, reader, query,
technique parameter and code the code has (compared against the registry and the parsers, not a list)."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stderr[-4000:]}"
    return out


def page(site: Path, rel: str) -> str:
    return html.unescape((site / rel / "index.html").read_text(encoding="utf-8"))


def test_every_cli_command_is_in_the_site(site):
    from socscope.cli import build_parser
    from socscope.docsite.reference import subcommands

    commands = subcommands(build_parser())
    assert {"init", "run", "query", "readers", "verify", "validate"} <= set(commands)
    text = page(site, "reference/cli")
    for name, parser in commands.items():
        assert f"socscope {name}" in text, name
        for action in parser._actions:  # and every option of it
            for option in action.option_strings:
                assert option in text or option in ("-h", "--help"), f"{name} {option}"


def test_every_registered_reader_is_in_the_catalogue_and_its_technique_page(site):
    from foundation.registry import all_readers, available_techniques, technique

    catalogue = page(site, "readers")
    for reader in all_readers().values():
        assert f"{reader.name}@{reader.version}" in catalogue, reader.name
    for name in available_techniques():
        tech_page = page(site, f"techniques/{name}")
        for reader in technique(name).readers:
            assert f"{reader.name}@{reader.version}" in tech_page


def test_every_named_query_is_in_the_library_page(site):
    from warehouse.queries import QUERIES_DIR

    text = page(site, "reference/queries")
    names = [p.stem for p in QUERIES_DIR.glob("*.sql")]
    assert len(names) >= 5
    for name in names:
        assert f"id=\"{name}\"" in (site / "reference/queries/index.html").read_text() or name in text, name
        first_sql_line = next(line for line in (QUERIES_DIR / f"{name}.sql").read_text().splitlines()
                              if line.strip() and not line.startswith("--"))
        assert first_sql_line.strip() in text, f"{name}: its SQL is not on the page"


def test_every_parameter_and_table_column_is_on_its_technique_page(site):
    from foundation.parameters import parameter_fields
    from foundation.registry import available_techniques, technique

    for name in available_techniques():
        tech = technique(name)
        text = page(site, f"techniques/{name}")
        for path, _ in parameter_fields(tech.parameters):
            assert path in text, f"{name}: parameter {path}"
        for spec in tech.tables:
            for column in spec.all_columns:
                assert column.name in text, f"{name}: {spec.name}.{column.name}"


def test_parameter_rows_carry_the_shipped_default_and_the_model_bounds():
    """Values read here from the YAML and bounds as written in tasks/afm/parameters.py."""
    from foundation.registry import technique
    from socscope.docsite.params import parameter_rows

    tech = technique("afm")
    shipped = yaml.safe_load(tech.default_params.read_text())
    rows = {r[0].strip("`"): r for r in parameter_rows(tech.parameters, shipped)}
    row = rows["pairing.min_peak_correlation"]
    assert row[3] == f"`{shipped['pairing']['min_peak_correlation']}`" and row[4] == "≥ 0, ≤ 1"
    row = rows["segmentation.smooth_sigma_um"]
    assert row[2] == "um" and row[4] == "> 0" and row[3] == f"`{shipped['segmentation']['smooth_sigma_um']}`"
    assert rows["histograms.crf_khz"][4] == "low < high, > 0"
    assert rows["channels.preferred_direction"][4] == "one of `trace` / `retrace`"


def test_keys_named_in_technique_prose_exist():
    """A parameter key quoted in a technique.md (`section.key`) must be a key of the model."""
    from foundation.parameters import parameter_fields
    from foundation.registry import available_techniques, technique
    from socscope.docsite.techniques import prose_path

    for name in available_techniques():
        tech = technique(name)
        prose = prose_path(tech)
        if not prose.exists():
            continue
        paths = {p for p, _ in parameter_fields(tech.parameters)}
        sections = {p.split(".")[0] for p in paths}
        quoted = {q for q in re.findall(r"`([a-z_]+(?:\.[a-z_*]+)+)`", prose.read_text()) if q.split(".")[0] in sections}
        assert quoted, f"{name}: the prose names no parameter"
        assert quoted <= paths, f"{name}: {sorted(quoted - paths)} are not keys of {tech.parameters.__name__}"


def test_every_emitted_code_has_a_page(site):
    from socscope.docsite.codes import documented, emitted_codes

    emitted = emitted_codes()
    assert {"esm_q_from_config_default", "segmentation_no_particles", "lattice_underdetermined", "uncalibrated",
            "TimeLimitExceeded", "UnreadableFile", "EmptyFile"} <= set(emitted)
    missing = sorted(set(emitted) - set(documented()))
    assert not missing, f"codes emitted but not in socscope/docsite/codes.yaml: {missing}"
    warnings = {"soc_mismatch", "esm_uncorrected", "segmentation_implausible", "interpolated_only_correlation",
                "fit_at_bound", "clock_jump"}
    for code in set(emitted) | warnings:
        text = page(site, f"codes/{code}")
        assert "What it means" in text and "What to do" in text, code
    assert "Not yet documented" not in page(site, "codes")


def test_a_new_flag_in_a_technique_is_collected(tmp_path):
    from socscope.docsite.codes import flag_codes

    (tmp_path / "features.py").write_text('flags.append("made_up_code")\nreasons = [] if ok else ["other_code"]\n'
                                          'x = f"third_code: {why}"\nv = cfg["low"]\n')
    (tmp_path / "demo.py").write_text('flags.append("demo_only")\n')
    assert flag_codes(tmp_path) == {"made_up_code", "other_code", "third_code"}


def test_api_reference_renders_the_python_api(site):
    text = page(site, "reference/api")
    for name in ("read", "read_all", "Measurement", "open", "Client", "lineage", "to_xdi"):
        assert name in text, name
