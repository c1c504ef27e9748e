"""Typed parameter sets: every parameter file in the repository fits its model, and every model
refuses a missing key, a typo, a wrong type and an out-of-bounds value with a message naming the
dotted key path, without changing the values (their digest is the params id on every row)."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml

from foundation.parameters import (
    ParameterError,
    ParameterModel,
    field_at,
    field_kind,
    parameter_fields,
    validate_parameters,
)
from tasks.afm.parameters import AfmParameters
from tasks.echem.gitt import GittSettings
from tasks.echem.parameters import EchemParameters, GittParameters
from tasks.nexafs.parameters import NexafsParameters
from foundation.parameters import load_params
from tasks.sxpd.parameters import SxpdParameters
from tests.toy_plugin.socscope_toy.parameters import ToyParameters
from warehouse.marts.parameters import MartsParameters

ROOT = Path(__file__).resolve().parents[1]

#: every parameter file of the repository (relative to the root) -> the model it must fit
MODELS: dict[str, type[ParameterModel]] = {
    "tasks/afm/params/default.yaml": AfmParameters,
    "tasks/echem/params/default.yaml": EchemParameters,
    "tasks/nexafs/params/default.yaml": NexafsParameters,
    "tasks/sxpd/params/default.yaml": SxpdParameters,
    "warehouse/marts/params.yaml": MartsParameters,
    "tests/toy_plugin/socscope_toy/params/default.yaml": ToyParameters,
}
FILES = sorted(MODELS)


def values_of(rel_path: str) -> dict[str, Any]:
    """The values of a parameter file as the platform loads them (name and version taken off)."""
    return load_params(ROOT / rel_path).values


def problems(model: type[ParameterModel], values: dict[str, Any]) -> str:
    """The ParameterError message for ``values`` ('' when they fit)."""
    try:
        validate_parameters(model, values, "the-file.yaml")
    except ParameterError as exc:
        return str(exc)
    return ""


def leaves(model: type[ParameterModel], values: dict[str, Any], prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(key path, value) of every parameter (not section) in ``values``, as the model declares them."""
    for key, value in values.items():
        path = prefix + (key,)
        field, _ = field_at(model, path)
        if isinstance(value, dict) and field_kind(field)[0] == "section":
            yield from leaves(model, value, path)
        else:
            yield path, value


def at(values: dict[str, Any], path: tuple) -> dict[str, Any]:
    """The dict holding the last key of ``path``."""
    for key in path[:-1]:
        values = values[key]
    return values


def dotted(path: tuple) -> str:
    return ".".join(path)


# ------------------------------------------------------------------ the files fit their models

def test_every_parameter_file_of_the_repository_has_a_model():
    found = set()
    for path in ROOT.rglob("*.y*ml"):
        rel = path.relative_to(ROOT)
        if any(part.startswith(".") or part in ("node_modules", "__pycache__") for part in rel.parts):
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "name" in data and "version" in data:  # what load_params asks of a set
            found.add(rel.as_posix())
    assert found == set(MODELS), f"parameter files without a model: {sorted(found - set(MODELS))}"


@pytest.mark.parametrize("rel_path", FILES)
def test_parameter_file_fits_its_model(rel_path):
    validate_parameters(MODELS[rel_path], values_of(rel_path), rel_path)


@pytest.mark.parametrize("rel_path", FILES)
def test_the_model_keeps_every_key_of_the_file(rel_path):
    def key_paths(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + str(k))
            if isinstance(v, dict):
                out |= key_paths(v, f"{prefix}{k}.")
        return out

    values = values_of(rel_path)
    dumped = MODELS[rel_path].model_validate(values).model_dump(exclude_unset=True)
    assert key_paths(dumped) == key_paths(values)


@pytest.mark.parametrize("rel_path", FILES)
def test_validation_leaves_the_values_and_their_digest_unchanged(rel_path):
    params = load_params(ROOT / rel_path)
    before = copy.deepcopy(params.values)
    validate_parameters(MODELS[rel_path], params.values, rel_path)
    assert params.values == before
    assert load_params(ROOT / rel_path).id == params.id
    broken = copy.deepcopy(params.values)
    first_path, _ = next(leaves(MODELS[rel_path], broken))
    at(broken, first_path)[first_path[-1]] = "not a value"
    kept = copy.deepcopy(broken)
    assert problems(MODELS[rel_path], broken)
    assert broken == kept


# ------------------------------------------------------------------ each model refuses a bad file

@pytest.mark.parametrize("rel_path", FILES)
def test_a_missing_required_key_is_named(rel_path):
    model, failures, required = MODELS[rel_path], [], 0
    for path, _ in leaves(model, values_of(rel_path)):
        values = values_of(rel_path)
        del at(values, path)[path[-1]]
        message = problems(model, values)
        if field_at(model, path)[0].is_required():
            required += 1
            if f"{dotted(path)}: missing" not in message:
                failures.append(f"{dotted(path)} removed: {message or 'accepted'}")
        elif message and path[-1] not in message:  # optional: left out, or needed by another key and named
            failures.append(f"{dotted(path)} has a default but its removal is refused: {message}")
    assert not failures, "\n".join(failures)
    assert required or model is EchemParameters  # echem reads every key with a default (see below)


@pytest.mark.parametrize("rel_path", FILES)
def test_an_unknown_key_is_named_with_the_allowed_keys(rel_path):
    model, failures = MODELS[rel_path], []
    for path, value in leaves(model, values_of(rel_path)):
        values = values_of(rel_path)
        typo = path[:-1] + (path[-1] + "s",)
        at(values, path)[typo[-1]] = value
        message = problems(model, values)
        if f"{dotted(typo)} = " not in message or "unknown key" not in message or path[-1] not in message:
            failures.append(f"{dotted(typo)} added: {message or 'accepted'}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("rel_path", FILES)
def test_a_wrong_type_is_named(rel_path):
    model, failures = MODELS[rel_path], []
    for path, value in leaves(model, values_of(rel_path)):
        values = values_of(rel_path)
        wrong = 3.5 if isinstance(value, str) else "text"
        at(values, path)[path[-1]] = wrong
        if f"{dotted(path)} = {wrong!r}" not in problems(model, values):
            failures.append(f"{dotted(path)} = {wrong!r}: {problems(model, values) or 'accepted'}")
    assert not failures, "\n".join(failures)


def _beyond(bound: Any) -> tuple[float, str] | None:
    """A value just outside a bound and the word pydantic uses for it."""
    if isinstance(bound, annotated_types.Gt):
        return bound.gt, "greater than"
    if isinstance(bound, annotated_types.Ge):
        return bound.ge - 1, "greater than or equal"
    if isinstance(bound, annotated_types.Lt):
        return bound.lt, "less than"
    if isinstance(bound, annotated_types.Le):
        return bound.le + 1, "less than or equal"
    return None


@pytest.mark.parametrize("rel_path", FILES)
def test_every_bound_refuses_a_value_beyond_it(rel_path):
    model, failures, checked = MODELS[rel_path], [], 0
    for path, _ in leaves(model, values_of(rel_path)):
        for bound in field_at(model, path)[0].metadata:
            beyond = _beyond(bound)
            if beyond is None:
                continue
            values = values_of(rel_path)
            at(values, path)[path[-1]] = beyond[0]
            checked += 1
            message = problems(model, values)
            if f"{dotted(path)} = {beyond[0]!r}: input should be {beyond[1]}" not in message:
                failures.append(f"{dotted(path)} = {beyond[0]!r}: {message or 'accepted'}")
    assert not failures, "\n".join(failures)
    assert checked or model is ToyParameters


# ------------------------------------------------------------------ the message

def test_the_message_names_file_key_value_unit_and_what_to_do():
    values = values_of("tasks/echem/params/default.yaml")
    values["gitt"]["min_rest_s"] = -5
    with pytest.raises(ParameterError) as caught:
        validate_parameters(EchemParameters, values, "params/echem-v2.yaml")
    message = str(caught.value)
    assert message.startswith("params/echem-v2.yaml: ")
    assert "gitt.min_rest_s = -5: input should be greater than 0 (unit s: " in message
    assert "Correct this key in params/echem-v2.yaml" in message
    assert caught.value.problems == [p for p in caught.value.problems if "gitt.min_rest_s" in p]


def test_a_bad_dict_key_is_named():
    values = values_of("tasks/nexafs/params/default.yaml")
    values["edges"]["Ni L"] = values["edges"]["Ni_L"]
    assert "edges.Ni L: the key 'Ni L' is not valid: an edge is named <Element>_<level>" in problems(
        NexafsParameters, values)


def test_infinite_and_boolean_numbers_are_refused():
    values = values_of("tasks/sxpd/params/default.yaml")
    values["alignment"]["max_gap_s"] = float("inf")
    values["strain"]["min_reflections_per_family"] = True
    message = problems(SxpdParameters, values)
    assert "alignment.max_gap_s = inf: input should be a finite number" in message
    assert "strain.min_reflections_per_family = True: input should be a valid integer" in message


# ------------------------------------------------------------------ checks across keys

@pytest.mark.parametrize("rel_path, change, expected", [
    ("tasks/nexafs/params/default.yaml", lambda v: v["edges"]["Ni_L"].update(l3_window=[800.0, 860.0]),
     "edges.Ni_L: l3_window [800.0, 860.0] reaches outside the grid [845.0, 880.0]"),
    ("tasks/nexafs/params/default.yaml", lambda v: v["edges"]["Ni_K"].pop("white_line_window"),
     "missing feature window(s) edges.Ni_K.white_line_window"),
    ("tasks/nexafs/params/default.yaml", lambda v: v["edges"]["O_K"].update(step_weights=[1.0, 2.0]),
     "edges.O_K: steps_ev has 1 steps but step_weights 2 weights"),
    ("tasks/nexafs/params/default.yaml", lambda v: v["self_absorption"]["edge_level"].pop("Co_L"),
     "self_absorption: below_above_ev has ['Co_L'] but edge_level does not"),
    ("tasks/nexafs/params/default.yaml", lambda v: v["calibration"].update(nio_ni_l3_peak_ev=860.0),
     "calibration: nio_ni_l3_peak_ev 860.0 is outside nio_peak_window [851.0, 855.0]"),
    ("tasks/nexafs/params/default.yaml", lambda v: v["roles"]["file_name_patterns"].update(ni4_reference=["*"]),
     "roles.file_name_patterns: unknown role(s) ['ni4_reference']"),
    ("tasks/sxpd/params/default.yaml", lambda v: v["peaks"].update(min_two_theta_deg=50.0),
     "peaks: min_two_theta_deg (50.0) must be below max_two_theta_deg (45.0)"),
    ("tasks/afm/params/default.yaml", lambda v: v["profiles"].update(max_distance_um=0.05),
     "profiles: max_distance_um (0.05) is shorter than one bin"),
    ("tasks/afm/params/default.yaml", lambda v: v["pairing"].update(location_pattern="loc([0-9]+)"),
     "pairing.location_pattern = 'loc([0-9]+)': the regex needs a named group 'loc'"),
    ("warehouse/marts/params.yaml", lambda v: v["findings"].update(c_peak_soc_range_pct=[95, 80]),
     "findings.c_peak_soc_range_pct = [95, 80]: an interval [low, high] needs low < high"),
])
def test_checks_across_keys(rel_path, change, expected):
    values = values_of(rel_path)
    change(values)
    assert expected in problems(MODELS[rel_path], values)


# ------------------------------------------------------------------ the models document themselves

@pytest.mark.parametrize("model", sorted(set(MODELS.values()), key=lambda m: m.__name__), ids=lambda m: m.__name__)
def test_every_field_has_a_unit_or_is_declared_a_setting_or_section(model):
    failures = []
    for path, field in parameter_fields(model):
        kind, unit = field_kind(field)
        holds_sections = any(p.startswith(path + ".") for p, _ in parameter_fields(model))
        if kind == "quantity" and not unit:
            failures.append(f"{path}: a quantity without a unit")
        elif kind not in ("quantity", "setting", "section"):
            failures.append(f"{path}: declare it with quantity(unit, ...), setting(...) or section(...)")
        elif (kind == "section") != holds_sections:
            failures.append(f"{path}: declared {kind} but {'holds' if holds_sections else 'holds no'} parameters")
        if not field.description:
            failures.append(f"{path}: no one-line doc")
    assert not failures, "\n".join(failures)


def test_echem_reads_every_key_with_the_code_defaults():
    """Every echem key is optional (the code reads each with a default): an empty set fits, and the
    model's GITT defaults are the ones the analysis uses when a key is absent."""
    validate_parameters(EchemParameters, {}, "empty.yaml")
    code_defaults = {f.name: f.default for f in fields(GittSettings)}
    model_defaults = {name: f.default for name, f in GittParameters.model_fields.items() if name in code_defaults}
    assert model_defaults == code_defaults
