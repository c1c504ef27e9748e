"""The model of the NEXAFS parameter set (tasks/nexafs/params/default.yaml). Energies in eV.

``roles``, ``calibration.reference_channel_*`` are read with defaults (tasks/nexafs/plugin.py) and
are optional here. ``edges`` is open and optional per edge: any edge a reader can name (``Ni_L``,
``Fe_K``, ``La_M``) is processed without a section (grid, steps and windows from xraydb and
``normalisation``, tasks/nexafs/windows.py); a section fixes them, and the feature windows it needs
depend on its name, as in features.edge_features. Pre-/post-edge windows are relative to E0 unless
``windows: absolute`` (per section, or ``normalisation.windows``).
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from foundation.parameters import UNITLESS, ParameterModel, interval, quantity, section, setting
from schemas.nexafs import ROLES

_EDGE_NAME = re.compile(r"^[A-Z][a-z]?_(K|L[123]?|M[1-5]?|N[1-7]?|O[1-7]?|P[1-3]?)$")
_EDGE_LEVEL = re.compile(r"^(K|L[123]|M[1-5]|N[1-7])$")


def _edge_name(name: str) -> str:
    if not _EDGE_NAME.match(name):
        raise ValueError("an edge is named <Element>_<level> as the readers name it, e.g. Ni_L (L2,3), O_K, Fe_K, La_M")
    return name


def _edge_level(level: str) -> str:
    if not _EDGE_LEVEL.match(level):
        raise ValueError("a level is an xraydb level: K, L1-L3, M1-M5 or N1-N7")
    return level


#: an edge name as the readers give it: element, underscore, level or spin-orbit pair (tasks/nexafs/edges.py)
EdgeName = Annotated[StrictStr, AfterValidator(_edge_name)]
#: an xraydb level the fluorescence line is taken from
EdgeLevel = Annotated[StrictStr, AfterValidator(_edge_level)]
Energy = Annotated[StrictFloat, Field(gt=0)]
EnergyWindow = interval(gt=0)
#: [low, high] in eV from E0 (negative below the edge)
RelativeWindow = interval()
WindowMode = Literal["relative", "absolute"]

#: feature windows each kind of edge needs (tasks/nexafs/features.edge_features reads them)
L_EDGE_WINDOWS = ("l3_window", "l2_window")
OXYGEN_K_WINDOWS = ("preedge_window", "peak_529_window", "peak_530_window")
METAL_K_WINDOWS = ("edge_window", "white_line_window")


def windows_needed(edge: str) -> tuple[str, ...]:
    """The feature windows the features of ``edge`` read (same rules as edge_features)."""
    if edge.endswith("_L"):
        return L_EDGE_WINDOWS
    if edge == "O_K":
        return OXYGEN_K_WINDOWS
    if edge.endswith("_K"):
        return METAL_K_WINDOWS
    return ()


class RoleParameters(ParameterModel):
    file_name_patterns: dict[StrictStr, list[StrictStr]] = setting(
        "role -> file-name globs (case-insensitive) deciding a file's role when its header does not", {})

    @field_validator("file_name_patterns")
    @classmethod
    def _known_roles(cls, patterns: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(patterns) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; roles are {ROLES}")
        return patterns


class CalibrationParameters(ParameterModel):
    nio_ni_l3_peak_ev: StrictFloat = quantity("eV", "a NiO scan of the beamtime is shifted so its Ni L3 peak sits here",
                                              gt=0)
    nio_peak_window: EnergyWindow = quantity("eV", "[low, high] where the NiO Ni L3 peak is searched")
    reference_channel_beamlines: list[StrictStr] = setting(
        "beamlines whose reference channel is a NiO-coated mesh (others' reference channels are not used)", [])
    reference_channel_peak_ev: dict[EdgeName, Energy] = quantity(
        "eV", "per edge, the energy the reference channel's peak is moved to", {})
    reference_channel_window: dict[EdgeName, EnergyWindow] = quantity(
        "eV", "per edge, [low, high] where the reference channel's peak is searched", {})

    @model_validator(mode="after")
    def _peaks_inside_windows(self) -> CalibrationParameters:
        problems = []
        if not self.nio_peak_window[0] <= self.nio_ni_l3_peak_ev <= self.nio_peak_window[1]:
            problems.append(f"nio_ni_l3_peak_ev {self.nio_ni_l3_peak_ev} is outside nio_peak_window "
                            f"{list(self.nio_peak_window)}")
        for edge, peak in self.reference_channel_peak_ev.items():
            window = self.reference_channel_window.get(edge)
            if window is None:
                problems.append(f"reference_channel_peak_ev has {edge} but reference_channel_window has no {edge}")
            elif not window[0] <= peak <= window[1]:
                problems.append(f"reference_channel_peak_ev.{edge} {peak} is outside reference_channel_window.{edge} "
                                f"{list(window)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class EdgeParameters(ParameterModel):
    grid: tuple[Energy, Energy, Energy] = quantity("eV", "start, stop, step of the common energy grid")
    windows: WindowMode | None = setting(
        "relative: pre/post-edge windows from normalisation.<soft|hard> around each spectrum's E0; absolute: "
        "this section's pre_edge/post_edge in eV (default: normalisation.windows)", None)
    pre_edge: EnergyWindow | None = quantity("eV", "absolute windows: [low, high] where the linear background is "
                                             "fitted", None)
    post_edge: EnergyWindow | None = quantity("eV", "absolute windows: [low, high] where the edge step is fitted",
                                              None)
    steps_ev: list[Energy] = quantity("eV", "positions of the arctan steps (L3, L2 ...)", min_length=1)
    step_weights: list[Annotated[StrictFloat, Field(ge=0)]] = quantity(
        UNITLESS, "relative heights of the steps (statistical 2:1 for L3:L2)", min_length=1)
    step_width_ev: StrictFloat = quantity("eV", "width of the arctan steps", gt=0)
    l3_window: EnergyWindow | None = quantity("eV", "L edges: [low, high] of the L3 white line", None)
    l2_window: EnergyWindow | None = quantity("eV", "L edges: [low, high] of the L2 white line", None)
    preedge_window: EnergyWindow | None = quantity(
        "eV", "O K: [low, high] of the TM-O hybrid pre-edge, integrated relative to the edge step", None)
    peak_529_window: EnergyWindow | None = quantity("eV", "O K: [low, high] of the ~529 eV pre-edge peak", None)
    peak_530_window: EnergyWindow | None = quantity("eV", "O K: [low, high] of the ~530 eV pre-edge peak", None)
    edge_window: EnergyWindow | None = quantity(
        "eV", "metal K: [low, high] where the half step and first inflection are searched", None)
    white_line_window: EnergyWindow | None = quantity("eV", "metal K: [low, high] of the white line", None)

    @model_validator(mode="after")
    def _consistent(self) -> EdgeParameters:
        start, stop, _ = self.grid
        problems = [] if start < stop else [f"grid start {start} is not below its stop {stop}"]
        if self.windows == "absolute" and (self.pre_edge is None or self.post_edge is None):
            problems.append("windows: absolute needs pre_edge and post_edge (eV)")
        if len(self.steps_ev) != len(self.step_weights):
            problems.append(f"steps_ev has {len(self.steps_ev)} steps but step_weights {len(self.step_weights)} weights")
        for name in ("pre_edge", "post_edge") + L_EDGE_WINDOWS + OXYGEN_K_WINDOWS + METAL_K_WINDOWS:
            window = getattr(self, name)
            if window is not None and not (start <= window[0] and window[1] <= stop):
                problems.append(f"{name} {list(window)} reaches outside the grid [{start}, {stop}]")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RelativeWindowParameters(ParameterModel):
    pre_edge: RelativeWindow = quantity("eV", "[low, high] from E0 where the linear background is fitted")
    post_edge: RelativeWindow = quantity(
        "eV", "[low, high] from E0 where the edge step is fitted; for a spin-orbit pair (L2,3, M4,5) from E0 plus "
              "the pair's tabulated splitting, i.e. above the L2 (M4) edge")
    grid_step_ev: StrictFloat = quantity("eV", "step of the grid of an edge without an 'edges' section", gt=0)
    step_width_ev: StrictFloat = quantity("eV", "width of the arctan steps of an edge without an 'edges' section",
                                          gt=0)
    edge_window: RelativeWindow = quantity("eV", "K edges without a section: [low, high] from E0 where the half "
                                                 "step and first inflection are searched")
    white_line_window: RelativeWindow = quantity("eV", "K edges without a section: [low, high] from E0 of the "
                                                       "white line")


class NormalisationParameters(ParameterModel):
    windows: WindowMode = setting("relative (larch/Athena: windows follow each spectrum's E0) or absolute (each "
                                  "edge section's pre_edge/post_edge in eV); an edge section's 'windows' wins")
    min_points: StrictInt = quantity(UNITLESS, "fewest measured points a pre-edge, post-edge or feature window "
                                               "needs; fewer leave its features null with a flag", ge=2)
    soft_below_ev: StrictFloat = quantity("eV", "edges below this energy take the 'soft' relative windows, the "
                                                "others the 'hard' ones", gt=0)
    e0_search_ev: StrictFloat = quantity("eV", "E0 (steepest rise) is searched this far around the tabulated "
                                               "edge energy (or 0.5 % of it, whichever is larger)", gt=0)
    soft: RelativeWindowParameters = section("relative windows of soft X-ray edges (scans of tens of eV)")
    hard: RelativeWindowParameters = section("relative windows of hard X-ray edges (Athena's defaults)")


class SelfAbsorptionParameters(ParameterModel):
    formula: StrictStr = setting("sample composition (a campaign's settings.nexafs.formula wins)", min_length=1)
    incidence_deg: StrictFloat = quantity("deg", "incidence angle from the sample surface (a header value wins)",
                                          gt=0, le=90)
    exit_deg: StrictFloat = quantity("deg", "exit angle from the sample surface (a header value wins)", gt=0, le=90)
    below_above_ev: dict[EdgeName, EnergyWindow] = quantity(
        "eV", "per edge, energies [below, above] the edge where the tabulated attenuation is read")
    edge_level: dict[EdgeName, EdgeLevel] = setting("per edge, the xraydb level its fluorescence line comes from")

    @model_validator(mode="after")
    def _level_for_every_edge(self) -> SelfAbsorptionParameters:
        missing = sorted(set(self.below_above_ev) - set(self.edge_level))
        if missing:
            raise ValueError(f"below_above_ev has {missing} but edge_level does not: add their level (L3, K ...)")
        return self


class FeatureParameters(ParameterModel):
    lcf_window: EnergyWindow = quantity("eV", "Ni L3 [low, high] of the linear combination of Ni2+/Ni3+ end members")
    l3_low_window: EnergyWindow = quantity("eV", "[low, high] of the Ni2+-like low-energy Ni L3 feature")
    l3_high_window: EnergyWindow = quantity("eV", "[low, high] of the Ni3+-like high-energy Ni L3 feature")


class ValenceParameters(ParameterModel):
    low: StrictStr = setting("label of the lower-valence end member (e.g. Fe2+); its reference scans have role "
                             "low_valence_reference", min_length=1)
    high: StrictStr = setting("label of the higher-valence end member (e.g. Fe3+); its reference scans have role "
                              "high_valence_reference", min_length=1)
    window: EnergyWindow = quantity("eV", "[low, high] where each sample spectrum is fitted as a non-negative "
                                          "combination of the two end members")


class NexafsParameters(ParameterModel):
    """NEXAFS/XAS correction chain (calibration, normalisation, self-absorption) and features."""

    roles: RoleParameters = section("how a file declares its role", default_factory=RoleParameters)
    calibration: CalibrationParameters = section("energy calibration from NiO scans and reference channels")
    normalisation: NormalisationParameters = section(
        "pre-/post-edge windows (relative to E0 or absolute), E0 search, and what an edge without a section gets")
    edges: dict[EdgeName, EdgeParameters] = section(
        "per edge (optional: any xraydb edge works without one): common grid, windows, steps, feature windows")
    self_absorption: SelfAbsorptionParameters = section("fluorescence-yield self-absorption correction")
    features: FeatureParameters = section("Ni L3 feature windows")
    valence: dict[EdgeName, ValenceParameters] = section(
        "per edge: the two end members whose bounded mixture gives xas_features.valence_fraction", default_factory=dict)

    @model_validator(mode="after")
    def _feature_windows(self) -> NexafsParameters:
        missing = [f"edges.{edge}.{name}" for edge, cfg in self.edges.items()
                   for name in windows_needed(edge) if getattr(cfg, name) is None]
        if missing:
            raise ValueError(f"missing feature window(s) {', '.join(missing)}: the features of these edges read them")
        return self
