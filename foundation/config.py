"""Campaign files: one YAML file, validated before any work, with errors that name the key path and value.

A campaign is checked against the registered techniques (share techniques, limits, expectations) and
every parameter set it names is loaded and validated against its technique's model, so that a bad
key is a configuration error here and not a quarantine of every file later.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from foundation.campaign import Campaign
from foundation.secrecy import redact
from foundation.yamlfile import safe_load


class ConfigError(ValueError):
    """A campaign file that does not validate; the message lists every bad key path and value."""


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    value = err.get("input")
    shown = redact(repr(value)) if not isinstance(value, (dict, list)) else type(value).__name__
    return f"  {loc}: {err['msg']} (got {shown})"


def parse_campaign(data: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None, *,
                   parameters: bool = True) -> Campaign:
    """The campaign in ``data``, validated; with ``parameters``, every technique's parameter set too (which
    imports every technique plugin: read-only commands that only find the warehouse pass False)."""
    data = resolve_secrets(data, source)
    try:
        campaign = Campaign.model_validate(data, context={"techniques": registered_names()})
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError(f"{source}: {len(lines)} problem(s) in the campaign config:\n" + "\n".join(lines)
                          + "\nFix these keys (see `socscope init` for a commented example).") from None
    campaign.base_dir = base_dir or Path(".").resolve()
    if parameters:
        check_parameter_sets(campaign, source)
    return campaign


def check_parameter_sets(campaign: Campaign, source: str) -> None:
    """Load every technique's parameter set (the one the campaign names, else the default) and check
    it against the technique's model, so that a bad key stops the run here, before any file is read; and
    the campaign's settings of every technique that declares a check (e.g. sxpd phases and their CIFs)."""
    from foundation.parameters import ParameterError
    from foundation.registry import available_techniques, params_for, technique

    for name in available_techniques():
        try:
            params_for(campaign, name)
        except (ParameterError, ValueError, OSError) as exc:
            key = f"params.{name}" if name in campaign.params else f"the default parameter set of {name}"
            raise ConfigError(f"{source}: {key}: {exc}") from None
        check = getattr(technique(name), "check_settings", None)
        if check is not None:
            try:
                check(dict(campaign.settings.get(name, {}) or {}), campaign.base_dir)
            except ValueError as exc:
                raise ConfigError(f"{source}: settings.{name}: {exc}") from None


def load_campaign(path: str | Path, *, parameters: bool = True) -> Campaign:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such campaign file; create one with `socscope init {path}`")
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return parse_campaign(data, str(path), path.parent.resolve(), parameters=parameters)


def resolve_secrets(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Refuse secrets written in the file; fill ``${ENV_VAR}`` references from the environment and
    register what they hold, so that logs, artifacts and warehouse text mask it (foundation.secrecy)."""
    from foundation import secrecy

    literal = secrecy.literal_secrets(data)
    if literal:
        raise ConfigError(f"{source}: {len(literal)} secret(s) written in the campaign config:\n" + "\n".join(literal)
                          + "\nSecrets come from the environment: the file names them as ${ENV_VAR}.")
    data, missing = secrecy.interpolate(data)
    if missing:
        raise ConfigError(f"{source}: {len(missing)} environment variable(s) the campaign config refers to "
                          f"are not set:\n" + "\n".join(missing))
    secrecy.register_environment()
    secrecy.install_log_redaction()
    return data


def registered_names() -> tuple[str, ...]:
    from foundation.registry import TECHNIQUE_MODULES

    return tuple(TECHNIQUE_MODULES)
