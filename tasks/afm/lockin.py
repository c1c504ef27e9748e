"""Lock-in sidecar: what the volts in Nanoscope ``Input1``/``Input2`` layers mean.

A Bruker Icon + Zurich Instruments HF2LI contact-resonance ESM setup records the lock-in outputs as
plain voltages; the drive amplitude, the contact Q and the output scaling live only in the lock-in
settings. The sidecar is YAML or JSON, found (first match wins) in
1. ``options["lockin"]``: the settings inline in the share's ``reader_options``;
2. ``options["lockin_sidecar"]``: a path to the sidecar file;
3. next to the data file: ``<file name>.lockin.yaml`` / ``.lockin.yml`` / ``.lockin.json``.

Format::

    lockin: Zurich Instruments HF2LI   # free text, kept in the metadata
    drive_amplitude_v: 4.0             # excitation amplitude at the tip, V (required for ESM)
    contact_q: 55                      # Q of the contact resonance from the sweep before imaging
    inputs:                            # value = offset + scale * volts, in the SI unit of the signal
      Input1: {signal: frequency, offset: 345000.0, scale: 10000.0, unit: Hz}
      Input2: {signal: amplitude, offset: 0.0, scale: 1.0e-9, unit: m}

``signal`` is one of the roles of ``channels.ROLE_UNITS`` (amplitude, phase, frequency, current...)
and ``unit`` must be that role's SI unit, so a wrong sidecar fails loudly instead of silently.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from foundation.contract import MissingInformation
from tasks.afm.channels import ROLE_UNITS

SIDECAR_SUFFIXES = (".lockin.yaml", ".lockin.yml", ".lockin.json")


def load_sidecar(path: Path) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise MissingInformation(f"lock-in sidecar {path} must hold a mapping, got {type(data).__name__}")
    return data


def find_lockin_settings(path: Path, options: Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(options.get("lockin"), Mapping):
        return dict(options["lockin"])
    if options.get("lockin_sidecar"):
        sidecar = Path(str(options["lockin_sidecar"]))
        if not sidecar.is_file():
            raise MissingInformation(f"reader_options.lockin_sidecar points to {sidecar}, which does not exist")
        return load_sidecar(sidecar)
    for suffix in SIDECAR_SUFFIXES:
        candidate = Path(path).with_name(Path(path).name + suffix)
        if candidate.is_file():
            return load_sidecar(candidate)
    return None


def apply_lockin(settings: Mapping[str, Any], channels: dict[str, np.ndarray], units: dict[str, str],
                 roles: dict[str, str], meta: dict[str, Any]) -> None:
    """Rescale the Input layers named in the settings, in place, and record the settings in ``meta``."""
    inputs = settings.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        raise MissingInformation("lock-in settings: 'inputs' must map Input1/Input2 to {signal, offset, scale, unit}")
    for input_name, spec in inputs.items():
        matches = [c for c in channels if c.split()[0].lower() == str(input_name).lower()]
        if not matches:
            continue
        signal = str(spec.get("signal", ""))
        if signal not in ROLE_UNITS:
            raise MissingInformation(f"lock-in settings: {input_name}.signal {signal!r} is not one of {sorted(ROLE_UNITS)}")
        unit = str(spec.get("unit", ROLE_UNITS[signal]))
        if unit != ROLE_UNITS[signal]:
            raise MissingInformation(f"lock-in settings: {input_name} is a {signal} and must be given in "
                                     f"{ROLE_UNITS[signal]}, not {unit!r}")
        offset, scale = float(spec.get("offset", 0.0)), float(spec.get("scale", 1.0))
        for ch in matches:
            channels[ch] = offset + scale * channels[ch]
            units[ch] = unit
            roles[ch] = signal
    if settings.get("drive_amplitude_v") is not None:
        meta["drive_amplitude_v"] = float(settings["drive_amplitude_v"])
    if settings.get("contact_q") is not None:
        meta["contact_q"] = float(settings["contact_q"])
    meta["lockin"] = {k: v for k, v in settings.items() if k != "inputs"} | {"inputs": dict(inputs)}
