"""Parameter tables of a technique page, generated from its typed parameter model
(``tasks/<t>/parameters.py``) and the values of its shipped default set (``params/default.yaml``)."""
from __future__ import annotations

import typing
from typing import Any

import yaml
from pydantic.fields import FieldInfo

from foundation.parameters import field_kind, parameter_fields
from socscope.docsite.markdown import table

_BOUND_SIGNS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


def bounds_text(field: FieldInfo) -> str:
    """'> 0, ≤ 1' from the field's constraints (pydantic metadata, Literal choices, interval ends)."""
    parts = _constraints(field.metadata) + _inner_bounds(field.annotation)
    return ", ".join(dict.fromkeys(parts))


def _constraints(items: Any) -> list[str]:
    """Texts of annotated-types bounds and of the interval check among pydantic metadata items."""
    out: list[str] = []
    for m in items:
        if isinstance(m, FieldInfo):
            out += _constraints(m.metadata)
        out += [f"{sign} {getattr(m, name):g}" for name, sign in _BOUND_SIGNS.items()
                if isinstance(getattr(m, name, None), (int, float)) and not isinstance(m, FieldInfo)]
        if "increasing" in getattr(getattr(m, "func", None), "__name__", ""):
            out.append("low < high")
    return out


def _inner_bounds(annotation: Any) -> list[str]:
    """Choices of a Literal and bounds declared inside the type (an interval's ends, a list's items)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return ["one of " + " / ".join(f"`{a}`" for a in typing.get_args(annotation))]
    if origin is typing.Annotated:
        args = typing.get_args(annotation)
        return _constraints(args[1:]) + _inner_bounds(args[0])
    return [text for arg in typing.get_args(annotation) for text in _inner_bounds(arg)]


def shipped_values(values: Any, parts: list[str], prefix: str = "") -> dict[str, Any]:
    """{entry: value} of a dotted path in the default set; a '*' part (a dict of sections) fans out
    over the set's entries, named in the result ("Ni_L3" for ``edges.*.grid``)."""
    if not parts:
        return {prefix: values}
    if not isinstance(values, dict):
        return {}
    head, rest = parts[0], parts[1:]
    if head == "*":
        return {k: v for entry, node in values.items()
                for k, v in shipped_values(node, rest, f"{prefix}{entry}").items()}
    return shipped_values(values[head], rest, prefix) if head in values else {}


def _default_text(field: FieldInfo, values: dict[str, Any], path: str) -> str:
    found = shipped_values(values, path.split("."))
    if found:  # a section never gets here: its keys have rows of their own
        text = "; ".join(f"{k}: `{_yaml(v)}`" if k else f"`{_yaml(v)}`" for k, v in found.items())
        return text if len(text) <= 240 else text[:237] + "..."
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "(section defaults)"
    return f"`{_yaml(field.default)}` (model)"


def _yaml(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 200 else text[:197] + "..."


def parameter_rows(model: type, values: dict[str, Any]) -> list[list[str]]:
    """One row per key: path, kind, unit, default (shipped set), bounds, meaning."""
    rows = []
    for path, field in parameter_fields(model):
        kind, unit = field_kind(field)
        default = "section" if kind == "section" else _default_text(field, values, path)
        rows.append([f"`{path}`", kind or "", unit or "", default, bounds_text(field), field.description or ""])
    return rows


def parameters_markdown(model: type | None, default_params) -> list[str]:
    """The 'Parameters' section of a technique page."""
    if model is None:
        return ["## Parameters", "", "This technique declares no parameter model: its parameter set is not checked.", ""]
    values = yaml.safe_load(default_params.read_text(encoding="utf-8")) or {}
    name, version = values.pop("name", "?"), values.pop("version", "?")
    head = ["## Parameters", "",
            f"Generated from `{model.__module__}.{model.__name__}` and the shipped set `{name}` version {version} "
            f"(`{default_params.name}`). *default* is the shipped value; *bounds* are what the model accepts "
            "(a value outside them is refused when the campaign loads, naming the key). A new value changes "
            "the parameter set's digest, so rows of both sets coexist in the warehouse.", ""]
    return head + table(["key", "kind", "unit", "default", "bounds", "meaning"], parameter_rows(model, values)) + [""]
