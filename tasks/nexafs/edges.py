"""Which absorption edge a scan covers: from the file's header when it says, else from the data.

Edge energies come from xraydb (every element, every level), not from a local list. Names are
``<Element>_<level>``: ``Fe_K``, ``Pt_L3``, ``Ni_L2``; a spin-orbit pair scanned in one go is one
name — ``Ni_L`` (L2,3, at the L3 energy) and ``La_M`` (M4,5, at the M5 energy).

Without a header the edge is guessed from the scan: the steepest rise of the absorption locates
it, the xraydb edges near that energy are the candidates, and the strongest edge (largest jump
ratio) wins only if it dominates every other element's candidate; otherwise the scan is refused
as ambiguous (Co L3 and Ba M5 at 780 eV cannot be told apart by energy alone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from foundation.contract import UnreadableFile

#: spin-orbit pairs named as one edge: short name -> (lower-energy level, higher-energy level)
PAIRS = {"L": ("L3", "L2"), "M": ("M5", "M4")}
#: a header edge beyond the scanned range (by more than this, eV) disagrees with the scan
OUTSIDE_MARGIN_EV = 0.0
#: the rise may sit this far from the tabulated edge (pre-edge resonances of light elements lie
#: ~12 eV below their tabulated K edge; metal K edges shift by up to ~10 eV with oxidation state)
RISE_TOLERANCE_EV, RISE_TOLERANCE_REL = 15.0, 0.005
#: the winning candidate's jump ratio must exceed every other element's by this factor
DOMINANCE = 2.0
_LEVELS = re.compile(r"^(K|L[123]?|M[1-5]?|N[1-7]?|O[1-7]?|P[1-3]?)$")


@dataclass
class Edge:
    name: str
    element: str
    level: str  # xraydb level (K, L3, ...) or a pair name (L, M)
    energy_ev: float
    flags: list[str] = field(default_factory=list)
    source: str = "header"  # who decided: header | energy_range | configuration


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[float, str, str, float], ...]:
    """(energy eV, element, level, jump ratio) for every edge xraydb tabulates, by energy."""
    import xraydb

    rows = []
    for z in range(1, 99):
        symbol = xraydb.atomic_symbol(z)
        for level, edge in xraydb.xray_edges(symbol).items():
            if edge.energy > 10.0:  # xraydb lists unbound outer levels at placeholder energies
                rows.append((float(edge.energy), symbol, level, float(edge.jump_ratio)))
    return tuple(sorted(rows))


@lru_cache(maxsize=512)
def level_energy(element: str, level: str) -> float | None:
    import xraydb

    try:
        edges = xraydb.xray_edges(element)
    except Exception:  # xraydb raises ValueError/KeyError-like errors for unknown symbols
        return None
    level = PAIRS.get(level, (level,))[0]
    return float(edges[level].energy) if level in edges and edges[level].energy > 10.0 else None


def parse_edge(text: str) -> tuple[str, str] | None:
    """(element, level) from 'Ni_L', 'Ni L2,3', 'NiL3', 'Fe K-edge', 'la m4,5' ..., else None."""
    t = re.sub(r"[-_\s]*edges?$", "", str(text).strip(), flags=re.I)
    m = re.match(r"^([A-Za-z][a-z]?)[\s_]*([KLMNOPklmnop][1-7]?(?:\s*[,/]?\s*[1-7])?)$", t)
    if not m:
        return None
    element, level = m.group(1).capitalize(), re.sub(r"[\s,/]", "", m.group(2).upper())
    if level in ("L23", "L32"):
        level = "L"
    elif level in ("M45", "M54"):
        level = "M"
    if not _LEVELS.match(level) or level_energy(element, level) is None:
        return None
    return element, level


def _named(element: str, level: str, flags: list[str]) -> Edge:
    return Edge(f"{element}_{level}", element, level, level_energy(element, level), flags)


def edge_from_header(text: str, energy: np.ndarray) -> Edge:
    """The edge the header names; kept even when the scan does not reach it (flagged)."""
    parsed = parse_edge(text)
    if parsed is None:
        raise UnreadableFile(f"the header names the edge {text!r}, which is not an element and edge xraydb "
                             f"knows (write it as 'Ni_L', 'Fe K', 'Pt L3')")
    element, level = parsed
    lo, hi = float(np.nanmin(energy)), float(np.nanmax(energy))
    if level in ("L3", "L2", "M5", "M4"):  # a scan over both members of the pair is the pair
        pair = "L" if level[0] == "L" else "M"
        e_lo, e_hi = (level_energy(element, x) for x in PAIRS[pair])
        if e_hi is not None and lo <= e_lo and e_hi <= hi:
            level = pair
    edge = _named(element, level, [])
    if not lo - OUTSIDE_MARGIN_EV <= edge.energy_ev <= hi + OUTSIDE_MARGIN_EV:
        edge.flags.append(f"edge_outside_scan: the header says {edge.name} ({edge.energy_ev:.1f} eV) but the scan "
                          f"covers {lo:.1f}-{hi:.1f} eV")
    return edge


def rise_energy(energy: np.ndarray, mu: np.ndarray) -> float | None:
    """Energy of the steepest rise of the (5-point smoothed) absorption, or None without a usable mu."""
    mu = np.asarray(mu, dtype=float)
    ok = np.isfinite(mu)
    if ok.sum() < 7:
        return None
    e, y = np.asarray(energy, dtype=float)[ok], np.convolve(mu[ok], np.ones(5) / 5.0, mode="same")
    slope = np.gradient(y[2:-2], e[2:-2])
    return float(e[2:-2][int(np.nanargmax(slope))]) if np.isfinite(slope).any() else None


def edge_from_scan(energy: np.ndarray, mu: np.ndarray | None) -> Edge:
    lo, hi = float(np.nanmin(energy)), float(np.nanmax(energy))
    rise = rise_energy(energy, mu) if mu is not None else None
    centre = rise if rise is not None else (lo + hi) / 2
    tol = max(RISE_TOLERANCE_EV, RISE_TOLERANCE_REL * centre) if rise is not None else (hi - lo) / 2
    near = [(e, el, lv, j) for e, el, lv, j in _table() if lo <= e <= hi and abs(e - centre) <= tol]
    where = f"the scan covers {lo:.1f}-{hi:.1f} eV" + (f" and rises most steeply at {rise:.1f} eV" if rise else "")
    if not near:
        raise UnreadableFile(f"{where}; xraydb lists no absorption edge there; state the edge in the header "
                             f"('Edge: Ni_L', XDI 'Element.symbol'/'Element.edge') or in reader_options.edge")
    best: dict[str, tuple[float, float, str]] = {}  # element -> (jump ratio, energy, level) of its strongest
    for e, el, lv, j in near:
        best[el] = max(best.get(el, (0.0, 0.0, "")), (j, e, lv))
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
    (element, (jump, _, level)) = ranked[0]
    if len(ranked) > 1 and ranked[1][1][0] * DOMINANCE > jump:
        listed = ", ".join(f"{el} {lv} ({e:.1f} eV)" for el, (_, e, lv) in ranked[:6])
        raise UnreadableFile(f"{where}; the edge is ambiguous among {listed}; state it in the header "
                             f"('Edge: Ni_L', XDI 'Element.symbol'/'Element.edge') or in reader_options.edge")
    for pair, members in PAIRS.items():  # both members scanned: the pair is the edge
        if level in members and all(lo <= (level_energy(element, m) or -1.0) <= hi for m in members):
            level = pair
    return _named(element, level, [f"edge_from_energy_range: {element}_{level} chosen by xraydb edge energies "
                                   f"near {centre:.1f} eV; the file does not name its edge"])


def resolve_edge(text: str | None, energy: np.ndarray, mu: np.ndarray | None = None,
                 configured: str | None = None) -> Edge:
    """The header's edge when it names one (flagged if the scan does not reach it), else the one the
    energy range singles out, else the share's configured edge (reader_options.edge) — in that order,
    so a file that says what it is never takes a share-wide default. ``source`` records which."""
    energy = np.asarray(energy, dtype=float)
    if text and str(text).strip():
        return edge_from_header(str(text), energy)
    try:
        edge = edge_from_scan(energy, mu)
    except UnreadableFile as no_guess:
        if not (configured and str(configured).strip()):
            raise
        edge = edge_from_header(str(configured), energy)
        edge.flags.insert(0, f"edge_from_configuration: {edge.name} from reader_options.edge; the file does not "
                             f"name its edge and its energy range does not single one out ({no_guess})")
        edge.source = "configuration"
        return edge
    edge.source = "energy_range"
    return edge
