"""What kind of AFM map a file holds: one pure function of its metadata and its channel roles.

Vocabulary (``MODES``):

- ``TOPO``  contact or unstated topography: height (deflection, friction) and nothing mode-specific
- ``AC``    intermittent contact (Asylum AC Mode, Nanoscope Tapping / PeakForce / ScanAsyst, FM):
            its Amplitude is the cantilever's own oscillation, never a strain amplitude
- ``ESM``   PFM / ESM: a strain amplitude under an AC tip bias, single frequency or DART sidebands
- ``CR``    contact resonance: a tracked resonance frequency without a strain amplitude
- ``CAFM``  conductive AFM (ORCA, TUNA, C-AFM): a current
- ``KPFM``  Kelvin probe / surface potential, usually in nap (lift) mode: a potential in V

Evidence, strongest first: channels only one mode records (DART sidebands, a current, a
potential); the vendor's statement of the mode (Asylum ``ImagingMode``, Nanoscope ``Operating
mode`` and ``@MicroscopeList``); a lock-in sidecar that declares the amplitude input. An amplitude
that nothing states to be a strain amplitude is NOT taken as ESM (a tapping map also records an
Amplitude): it lands as topography, and the evidence says why. A map with neither a height
channel nor a stated mode (an STM current image) gets no mode (None).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODES = ("TOPO", "AC", "ESM", "CR", "CAFM", "KPFM")

_STRAIN_ROLES = {"amplitude", "amplitude1", "amplitude2"}
# the vendor's words for each mode (Asylum ImagingMode, Nanoscope Operating mode / MicroscopeList)
_SAYS_ESM = re.compile(r"pfm|piezo|\besm\b|electrochem.*strain|dart|contact[ -]?resonance|\bcr\b", re.IGNORECASE)
_SAYS_AC = re.compile(r"\bac mode|tapping|peak ?force|scanasyst|intermittent|non-?contact|\bfm mode|\bam mode", re.IGNORECASE)
_SAYS_CAFM = re.compile(r"orca|tuna|c-?afm|conductive|current", re.IGNORECASE)
_SAYS_KPFM = re.compile(r"kelvin|kpfm|surface potential|\bskpm\b|\bnap\b|lift", re.IGNORECASE)
_SAYS_CR = re.compile(r"contact[ -]?resonance|\bcr\b", re.IGNORECASE)


@dataclass(frozen=True)
class ModeCall:
    mode: str | None
    evidence: str


def stated_mode(meta: Mapping[str, Any]) -> str:
    """The vendor's own words for the imaging mode, all of them ('' when the file states none)."""
    words = [str(meta.get(k) or "").strip() for k in ("imaging_mode", "acquisition_mode")]
    return " / ".join(w for w in words if w and w.lower() != "image")


def classify_mode(meta: Mapping[str, Any], roles: Mapping[str, str]) -> ModeCall:
    """The map's mode and the evidence that decided it (see the module docstring)."""
    present = set(roles.values())
    said = stated_mode(meta)
    quoted = f"imaging mode {said!r}" if said else "no imaging mode stated"
    strain = present & _STRAIN_ROLES
    if not said and "height" not in present:
        return ModeCall(None, f"no height channel and {quoted} (channels {sorted(present)}): not an AFM map mode")
    if {"amplitude1", "amplitude2"} <= present or (meta.get("dart_on") and strain):
        return ModeCall("ESM", f"DART sideband channels Amplitude1/Amplitude2 ({quoted})")
    if "current" in present:
        if strain and not _SAYS_CAFM.search(said) and _SAYS_ESM.search(said):
            return ModeCall("ESM", f"{quoted} with an amplitude channel; its current channel is secondary")
        return ModeCall("CAFM", f"current channel ({quoted})")
    if "potential" in present or (_SAYS_KPFM.search(said) and not _SAYS_ESM.search(said)):
        return ModeCall("KPFM", f"{'potential channel' if 'potential' in present else 'no potential channel'} "
                                f"({quoted})")
    if strain and meta.get("lockin"):
        return ModeCall("ESM", f"lock-in sidecar declares an amplitude input ({quoted})")
    if strain and _SAYS_ESM.search(said) and not _SAYS_AC.search(said):
        return ModeCall("ESM", f"{quoted} with an amplitude channel")
    if "frequency" in present and (_SAYS_CR.search(said) or meta.get("lockin")):
        return ModeCall("CR", f"resonance frequency channel without a strain amplitude ({quoted})")
    if _SAYS_AC.search(said):
        return ModeCall("AC", f"{quoted}: intermittent contact; its amplitude is the cantilever oscillation")
    if strain:
        return ModeCall("TOPO", f"amplitude channel, but nothing states PFM/ESM ({quoted}): not claimed as a "
                                "strain amplitude")
    return ModeCall("TOPO", f"topography channels {sorted(present)} ({quoted})")
