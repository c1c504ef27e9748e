"""The registry of techniques and readers, content-based detection, and provenance stamping."""
from __future__ import annotations

import fnmatch
import importlib
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from foundation.contract import (
    Measurement,
    ParamSet,
    Provenance,
    Reader,
    Technique,
    UnreadableFile,
    describe_bytes,
)
from foundation.parameters import load_params
from foundation.rawfile import SNIFF_BYTES, readable_text, under_original_name

log = logging.getLogger(__name__)

#: Techniques are found through this entry-point group, the built-in four as any other package's:
#: ``[project.entry-points."socscope.techniques"] raman = "mylab.raman.plugin:TECHNIQUE"``.
ENTRY_POINT_GROUP = "socscope.techniques"


def discover_techniques() -> dict[str, str]:
    """name -> "module:attribute" of every installed technique plugin."""
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)}
    if not found:
        log.warning("no technique plugin is installed (entry-point group %r): install socscope with "
                    "`pip install -e .` so that its techniques are registered", ENTRY_POINT_GROUP)
    return found


#: name -> "module:attribute", filled once from the entry points (tests put their own in its place)
TECHNIQUE_MODULES: dict[str, str] = discover_techniques()

# Techniques from a package that is not installed (development): SOCSCOPE_PLUGINS="raman=mylab.raman.plugin"
for _entry in filter(None, os.environ.get("SOCSCOPE_PLUGINS", "").split(",")):
    _name, _, _module = _entry.partition("=")
    TECHNIQUE_MODULES[_name.strip()] = _module.strip()



def technique(name: str) -> Technique:
    if name not in TECHNIQUE_MODULES:
        raise KeyError(f"unknown technique {name!r}; registered: {sorted(TECHNIQUE_MODULES)}")
    plugin = _load_plugin(TECHNIQUE_MODULES[name])
    if plugin.name != name:
        raise RuntimeError(f"{TECHNIQUE_MODULES[name]} declares technique {plugin.name!r}, registered as {name!r}")
    return plugin


@lru_cache(maxsize=None)
def _load_plugin(target: str) -> Technique:
    # cached by target, not by name, so that changing TECHNIQUE_MODULES never serves a stale plugin
    module_path, _, attribute = target.partition(":")
    plugin = getattr(importlib.import_module(module_path), attribute or "TECHNIQUE")
    if not isinstance(plugin, Technique):
        raise TypeError(f"{target} is a {type(plugin).__name__}, not a foundation.contract.Technique")
    return plugin


def available_techniques() -> list[str]:
    """Techniques whose plugin imports; a missing one is skipped (e.g. during development)."""
    out = []
    for name in TECHNIQUE_MODULES:
        try:
            technique(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(TECHNIQUE_MODULES[name].partition(":")[0].rsplit(".", 1)[0]):
                continue
            raise
        out.append(name)
    return out


def ordered_techniques(names: list[str] | None = None) -> list[str]:
    """Techniques in dependency order (``after`` and ``finalize_after``)."""
    names = names if names is not None else available_techniques()
    done: list[str] = []
    pending = list(names)
    while pending:
        progressed = False
        for n in list(pending):
            deps = [d for d in technique(n).waits_for if d in names]
            if all(d in done for d in deps):
                done.append(n)
                pending.remove(n)
                progressed = True
        if not progressed:
            raise RuntimeError(f"cyclic technique dependencies among {pending}")
    return done


def all_readers() -> dict[str, Reader]:
    readers: dict[str, Reader] = {}
    for name in available_techniques():
        for r in technique(name).readers:
            if r.name in readers and readers[r.name] is not r:
                raise RuntimeError(f"two readers are named {r.name!r}")
            readers[r.name] = r
    return readers


def read_head(path: Path, n: int = SNIFF_BYTES) -> bytes:
    if path.is_dir():
        return b""
    with open(path, "rb") as fh:
        return fh.read(n)


def detect(path: Path, original_name: str, technique_name: str | None = None,
           override: str | None = None) -> Reader:
    """Pick the reader by content. The suffix only breaks ties; an override (config) wins outright."""
    return detection(path, original_name, technique_name, override)[0]


def detection(path: Path, original_name: str, technique_name: str | None = None,
              override: str | None = None) -> tuple[Reader, str]:
    """The reader :func:`detect` picks, and why in words (for `socscope explain`)."""
    readers = all_readers()
    if override:
        if override not in readers:
            raise UnreadableFile(f"the config names reader {override!r}, which is not registered "
                                 f"(known: {sorted(readers)})")
        return readers[override], f"the share's reader override names {override!r}"
    head = read_head(path)
    candidates = [r for r in readers.values()
                  if (technique_name is None or technique_name in r.techniques) and r.sniff(head, original_name)]
    if not candidates:
        kind = "a folder" if path.is_dir() else describe_bytes(head)
        raise UnreadableFile(f"no {technique_name or ''} reader recognises {original_name!r} ({kind}); "
                             f"add a reader override for this pattern in the share config if it is a known format")
    suffix = Path(original_name).suffix.lower()
    candidates.sort(key=lambda r: (not r.claims_suffix(suffix), r.name))
    why = f"its content is recognised by {candidates[0].name!r}"
    if len(candidates) > 1:
        why += (f" (also by {[r.name for r in candidates[1:]]}; chosen as "
                + (f"the one claiming the suffix {suffix!r})" if candidates[0].claims_suffix(suffix) else "first by name)"))
    return candidates[0], why


def read_measurements(path: Path, raw_sha256: str, original_name: str, *, technique_name: str | None = None,
                      override: str | None = None, options: Mapping[str, Any] | None = None,
                      sample_id: str | None = None, cell_id: str | None = None,
                      why: list[str] | None = None) -> tuple[Reader, list[Measurement]]:
    """The reader detection picks and its measurements; ``why``, if given, receives why that reader."""
    with readable_text(Path(path), original_name) as (readable, flags):
        try:
            reader, reason = detection(readable, original_name, technique_name, override)
            if why is not None:
                why.append(reason)
            with under_original_name(readable, original_name) as named:
                out = reader.read(named, dict(options or {}))
        except UnreadableFile as exc:
            if "truncated" in flags:
                raise type(exc)(f"{exc} — and the file ends inside a line: it is truncated") from None
            if "unterminated" in flags and "truncat" not in str(exc):
                raise type(exc)(f"{exc} (the text also ends without a line end: it may be truncated)") from None
            raise
    flags.pop("unterminated", None)
    measurements = out if isinstance(out, list) else [out]
    if not measurements:
        raise UnreadableFile(f"{reader.id} found no measurement in {original_name!r}")
    prov = Provenance(raw_sha256=raw_sha256, reader=reader.id, original_name=original_name,
                      sample_id=sample_id, cell_id=cell_id)
    for m in measurements:
        m.provenance = prov
        for key, value in flags.items():
            m.meta.setdefault(key, value)
    return reader, measurements


def reader_override(overrides: list[Any], rel_path: str) -> str | None:
    for o in overrides:
        if fnmatch.fnmatch(rel_path, o.pattern):
            return o.reader
    return None


def params_for(campaign: Any, technique_name: str) -> ParamSet:
    """The technique's parameter set that the campaign names (else its default), checked against the
    technique's model (``ParameterError`` naming every bad key)."""
    tech = technique(technique_name)
    chosen = campaign.params.get(technique_name) if campaign is not None else None
    return load_params(campaign.resolve(chosen) if chosen else tech.default_params, tech.parameters)
