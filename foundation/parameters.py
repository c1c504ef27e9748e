"""Typed parameter sets: the model every technique declares for its parameter YAML.

A parameter file is checked against its technique's model when it is loaded, so that a missing
key, a typo or a width of -3 µm is a configuration error naming the key, raised before any file is
processed, not a quarantine of every file as "a bug in the reader".

The model only *checks*: the values the readers and features use stay the plain dict read from
the YAML (their digest is the params id on every warehouse row and must not move), and the code
keeps reading them as it always did.

Every leaf field says what it measures, in one of three ways (a catalogue or the docs read it from
``json_schema_extra``):

- ``quantity(unit, doc, ...)``: a number, list or interval of numbers in ``unit``; a physical unit in
  the house spelling of the table schemas ("um", "deg", "eV", "angstrom", "s", "pA") or "1" for a pure
  number (a fraction, a count, a multiple of a peak width: the doc says of what);
- ``setting(doc, ...)``: categorical, text or a switch (a method name, a regex, a chemical formula);
- ``section(doc, ...)``: a nested group of parameters (a model, or a dict of models).
"""
from __future__ import annotations

import copy
import hashlib
import json
import reprlib
import types
import typing
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationError,
)
from pydantic.fields import FieldInfo

from foundation.contract import ParamSet
from foundation.yamlfile import safe_load

#: unit of a pure number (fraction, count, ratio, multiple of a width), as in the table schemas
UNITLESS = "1"

#: marks a field without a default (pydantic's own marker, named for readers of the models)
REQUIRED: Any = ...


class ParameterModel(BaseModel):
    """Base of every parameter model: unknown keys are refused (a typo must not pass silently as
    an unused key), numbers must be finite, the model is frozen. Declare numbers and switches as
    StrictFloat/StrictInt/StrictBool so that text ("5") and booleans are not taken for them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ParameterError(ValueError):
    """A parameter file that does not fit its model. ``problems`` holds one line per bad key."""

    def __init__(self, where: str, model: type[ParameterModel], problems: list[str]):
        self.where, self.model, self.problems = where, model, problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{where}: the parameter set does not fit {model.__name__} ({model.__module__}); "
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''}:\n{lines}\n"
            f"Correct {'these keys' if len(problems) > 1 else 'this key'} in {where} and run again "
            "(the model's fields give each key's unit, bounds and meaning).")


def quantity(unit: str, doc: str, default: Any = REQUIRED, **bounds: Any) -> Any:
    """A numeric field in ``unit`` with a one-line ``doc``; ``bounds`` are pydantic's gt/ge/lt/le."""
    if not unit:
        raise ValueError(f"quantity {doc!r} needs a unit; use UNITLESS for a pure number")
    return Field(default, description=doc, json_schema_extra={"kind": "quantity", "unit": unit}, **bounds)


def setting(doc: str, default: Any = REQUIRED, **constraints: Any) -> Any:
    """A categorical, text or switch field (no unit)."""
    return Field(default, description=doc, json_schema_extra={"kind": "setting"}, **constraints)


def section(doc: str, default_factory: Any = None) -> Any:
    """A nested group of parameters: required, or optional built by ``default_factory`` (its model
    class when every key of the section has a default, ``dict`` for a dict of sections)."""
    extra = {"kind": "section"}
    if default_factory is None:
        return Field(REQUIRED, description=doc, json_schema_extra=extra)
    return Field(default_factory=default_factory, description=doc, json_schema_extra=extra)


def _increasing(bounds: tuple[float, ...]) -> tuple[float, ...]:
    if not bounds[0] < bounds[1]:
        raise ValueError(f"an interval [low, high] needs low < high, got {list(bounds)}")
    return bounds


def interval(**bounds: Any) -> Any:
    """The type of a [low, high] pair of numbers (a YAML list of two), low < high, each within
    ``bounds`` (gt/ge/lt/le)."""
    end = Annotated[StrictFloat, Field(**bounds)] if bounds else StrictFloat
    return Annotated[tuple[end, end], AfterValidator(_increasing)]


def validate_parameters(model: type[ParameterModel], values: dict[str, Any], where: str) -> None:
    """Check ``values`` (a parameter set without its name and version) against ``model``.

    Raises ``ParameterError`` naming ``where`` and, for every bad key, its dotted path, the value
    found and what was expected. ``values`` is not changed (its digest is the params id).
    """
    try:
        model.model_validate(values)
    except ValidationError as exc:
        raise ParameterError(where, model, [_describe(model, e) for e in exc.errors(include_url=False)]) from None


def field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[FieldInfo | None, type[BaseModel] | None]:
    """The field a key path points to (the last named one on the way: a dict entry or list item is
    described by the field holding the dict or list), and the model that did not know the last part
    of ``loc`` (None when every part was known). For error messages, catalogues and docs."""
    annotation: Any = model
    field: FieldInfo | None = None
    for part in loc:
        target = _model_in(annotation)
        if target is not None:
            if part not in target.model_fields:
                return field, target
            field = target.model_fields[part]
            annotation = field.annotation
        else:
            annotation = _item_type(annotation)
    return field, None


def parameter_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every field of ``model`` and of its sections, depth first, with its dotted path ("*" stands
    for the keys of a dict of sections, e.g. ``edges.*.grid``): what a catalogue or the docs list."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path, field
        inner = _model_in(field.annotation)
        if inner is None and typing.get_origin(_unwrap(field.annotation)) is dict:
            inner, path = _model_in(_item_type(field.annotation)), f"{path}.*"
        if inner is not None:
            yield from parameter_fields(inner, f"{path}.")


def field_kind(field: FieldInfo) -> tuple[str | None, str | None]:
    """(kind, unit) of a field declared with quantity, setting or section; (None, None) otherwise."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return extra.get("kind"), extra.get("unit")


# --------------------------------------------------------------------------- error messages

def _describe(model: type[ParameterModel], error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    is_key_error = bool(loc) and loc[-1] == "[key]"  # a dict key that does not fit (loc ends in the key)
    path_loc = loc[:-1] if is_key_error else loc
    path = _dotted(path_loc) or "(top level)"
    field, refusing_model = field_at(model, path_loc)
    kind = error["type"]
    if kind == "missing":
        return f"{path}: missing; required{_about(field)}"
    if kind == "extra_forbidden":
        allowed = ", ".join(refusing_model.model_fields) if refusing_model else "none"
        parent = _dotted(path_loc[:-1]) or "the top level"
        return (f"{path} = {_short(error['input'])}: unknown key (a typo?); allowed keys of {parent}: {allowed}")
    message = error["msg"].removeprefix("Value error, ")
    if is_key_error:
        return f"{path}: the key {path_loc[-1]!r} is not valid: {message}"
    if not loc:  # a check across keys of the whole set: its message names the keys
        return message
    if isinstance(error["input"], dict):  # a check across the keys of one section
        return f"{path}: {message}"
    return f"{path} = {_short(error['input'])}: {message[:1].lower()}{message[1:]}{_about(field)}"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 60, 60, 6, 4, 2


def _short(value: Any) -> str:
    """The value as written, cut so a message never quotes a whole section."""
    return _SHORT.repr(value)


def _about(field: FieldInfo | None) -> str:
    """' (unit s: <doc>)' for the field, when known."""
    if field is None:
        return ""
    unit = field_kind(field)[1]
    unit = f"unit {unit}: " if unit else ""
    return f" ({unit}{field.description})" if field.description else ""


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        real = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = _unwrap(real[0]) if len(real) == 1 else annotation
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _item_type(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(args) == 2:
        return args[1]
    return args[0] if args else None


def load_params(path: str | Path, model: type[ParameterModel] | None = None) -> ParamSet:
    """The parameter set in ``path``, read on every call (an edited file takes effect at once) and
    checked against ``model``; each caller gets its own copy of the values."""
    path = Path(path)
    name, version, values, digest = _parse_params(path.read_text(encoding="utf-8"), str(path), model)
    return ParamSet(name=name, version=version, values=copy.deepcopy(values), digest=digest)


@lru_cache(maxsize=64)
def _parse_params(text: str, where: str, model: type[ParameterModel] | None) -> tuple[str, int, dict[str, Any], str]:
    # parsed once per distinct text: every processed file asks for its parameter set, and parsing
    # the YAML (~8 ms for sxpd's) cost more than reading and fitting a whole pattern
    try:
        values = safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(values, dict) or "name" not in values or "version" not in values:
        raise ValueError(f"{where}: a parameter set needs top-level 'name' and 'version' keys")
    name, version = str(values.pop("name")), int(values.pop("version"))
    if model is not None:
        validate_parameters(model, values, where)
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return name, version, values, digest
