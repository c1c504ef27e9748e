"""Crystalline phases a campaign declares for its patterns (``settings.sxpd.phases``), built with gemmi.

Each phase comes from a CIF file or from a space group + starting cell (+ optional atom sites);
gemmi supplies the space group (any setting it accepts), the symmetry operations and the
structure-factor calculator, so the platform keeps no space-group tables of its own. Validated at
campaign load (``check_settings``): errors name the phase and the defect. Without ``phases`` the
campaign keeps today's NCM622 R-3m main phase + Al and Li cell parts (``default_phases``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import gemmi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Role = Literal["main", "secondary", "cell_part"]


class AtomSite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    element: str
    x: float
    y: float
    z: float
    occupancy: float = Field(1.0, ge=0, le=1)
    b_iso: float = Field(0.5, ge=0, description="isotropic displacement B (Å²)")


class CellSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float = Field(gt=0)
    b: float | None = Field(None, gt=0)
    c: float | None = Field(None, gt=0)
    alpha: float | None = Field(None, gt=0, lt=180)
    beta: float | None = Field(None, gt=0, lt=180)
    gamma: float | None = Field(None, gt=0, lt=180)


class PhaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    role: Role
    cif: str | None = None
    space_group: str | int | None = None
    cell: CellSpec | None = None
    atoms: list[AtomSite] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PhaseSpec:
        if (self.cif is None) == (self.space_group is None):
            raise ValueError(f"phase {self.name!r}: give either cif or space_group + cell, not both nor neither")
        if self.space_group is not None and self.cell is None:
            raise ValueError(f"phase {self.name!r}: space_group {self.space_group!r} needs a starting cell")
        if self.cif is not None and (self.cell is not None or self.atoms is not None):
            raise ValueError(f"phase {self.name!r}: cell and atoms come from its CIF; drop them or drop cif")
        return self


class PhaseSettings(BaseModel):
    """The ``phases`` and ``sample_phases`` keys of ``settings.sxpd`` (its other keys are not checked here)."""

    model_config = ConfigDict(extra="ignore")
    phases: list[PhaseSpec] | None = None
    sample_phases: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> PhaseSettings:
        if self.phases is None:
            if self.sample_phases:
                raise ValueError("sample_phases needs settings.sxpd.phases")
            return self
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"phase names must be unique, got {dupes} more than once")
        mains = [p.name for p in self.phases if p.role == "main"]
        if len(mains) != 1:
            raise ValueError(f"exactly one phase must have role main, got {mains or 'none'}")
        for sample, chosen in self.sample_phases.items():
            unknown = sorted(set(chosen) - set(names))
            if unknown or not chosen:
                raise ValueError(f"sample_phases.{sample}: {unknown or 'no phase'} not among the phases {names}")
        return self


@dataclass(eq=False)  # hashed by identity: the lru caches below key on the (cached) phase object
class Phase:
    name: str
    role: str
    space_group: gemmi.SpaceGroup
    cell: tuple[float, float, float, float, float, float]
    structure: gemmi.SmallStructure | None  # None: no atom sites (free intensities only, no weight fraction)
    #: positions held at the declared cell (today's Al, Li lines in the default): the cell is not refined
    fixed: bool = False
    source: str = ""  # the CIF path, or "settings"

    @property
    def crystal_system(self) -> str:
        return self.space_group.crystal_system_str()

    @property
    def hm(self) -> str:
        return self.space_group.xhm()

    @property
    def is_r3m_hexagonal(self) -> bool:
        return self.space_group.number == 166 and self.space_group.ext == "H"


def _space_group(value: str | int, name: str) -> gemmi.SpaceGroup:
    sg = gemmi.find_spacegroup_by_number(value) if isinstance(value, int) or str(value).isdigit() \
        else gemmi.find_spacegroup_by_name(str(value))
    if sg is None and isinstance(value, str) and str(value).isdigit():
        sg = gemmi.find_spacegroup_by_number(int(value))
    if sg is None:
        raise ValueError(f"phase {name!r}: unknown space group {value!r} (Hermann–Mauguin symbol or number "
                         "as gemmi knows it, e.g. 'P n m a' or 62)")
    return sg


def implied_cell(sg: gemmi.SpaceGroup, cell: CellSpec, name: str) -> tuple[float, ...]:
    """The six cell parameters: absent ones implied by the crystal system, present ones checked against it."""
    system, a = sg.crystal_system_str(), cell.a
    rhombohedral = system == "trigonal" and sg.ext == "R"
    b = cell.b if cell.b is not None else (a if system in ("cubic", "tetragonal", "trigonal", "hexagonal") else None)
    c = cell.c if cell.c is not None else (a if system == "cubic" or rhombohedral else None)
    gamma_default = 120.0 if system in ("trigonal", "hexagonal") and not rhombohedral else 90.0
    right = 90.0 if system != "triclinic" else None
    unique = sg.monoclinic_unique_axis() if system == "monoclinic" else ""
    alpha = cell.alpha if cell.alpha is not None else (None if system == "triclinic" or rhombohedral or unique == "a" else right)
    beta = cell.beta if cell.beta is not None else (None if system == "triclinic" or unique == "b" else right)
    gamma = cell.gamma if cell.gamma is not None else (
        alpha if rhombohedral else None if system == "triclinic" or unique == "c" else gamma_default)
    if rhombohedral and cell.beta is None:
        beta = alpha
    values = {"b": b, "c": c, "alpha": alpha, "beta": beta, "gamma": gamma}
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise ValueError(f"phase {name!r}: cell needs {missing} for a {system} space group {sg.xhm()}")
    out = (a, b, c, alpha, beta, gamma)
    if not gemmi.UnitCell(*out).is_compatible_with_spacegroup(sg, 1e-4):
        raise ValueError(f"phase {name!r}: cell {dict(zip(['a', 'b', 'c', 'alpha', 'beta', 'gamma'], out))} is inconsistent "
                         f"with the {system} crystal system of {sg.xhm()}")
    return out


def _structure_from_atoms(sg: gemmi.SpaceGroup, cell: tuple[float, ...], atoms: list[AtomSite]) -> gemmi.SmallStructure:
    st = gemmi.SmallStructure()
    st.cell = gemmi.UnitCell(*cell)
    st.spacegroup_hall = sg.hall
    st.determine_and_set_spacegroup("H")
    for atom in atoms:
        site = gemmi.SmallStructure.Site()
        site.label, site.type_symbol = atom.label, atom.element
        site.element = gemmi.Element(atom.element)
        site.fract = gemmi.Fractional(atom.x, atom.y, atom.z)
        site.occ = atom.occupancy
        site.u_iso = atom.b_iso / (8.0 * math.pi**2)
        st.add_site(site)
    return _ready(st)


def _ready(st: gemmi.SmallStructure) -> gemmi.SmallStructure:
    """Symmetry images set up, and a site on a special position counted once: gemmi's structure
    factor sums every symmetry operation, so its occupancy is divided by the images that coincide."""
    st.setup_cell_images()
    st.change_occupancies_to_crystallographic()
    return st


@lru_cache(maxsize=64)
def cell_mass(phase: Phase) -> float | None:
    """Mass of the unit cell's content (g/mol, = Z·M). After ``_ready`` a site's occupancy is divided by
    the operations that map it onto itself, so occupancy × |G| summed over the sites counts every atom."""
    if phase.structure is None:
        return None
    n_ops = len(list(phase.space_group.operations()))
    return float(sum(site.occ * n_ops * site.element.weight for site in phase.structure.sites))


def _phase_from_cif(spec: PhaseSpec, base_dir: Path) -> Phase:
    path = Path(spec.cif) if Path(spec.cif).is_absolute() else base_dir / spec.cif
    try:
        st = gemmi.read_small_structure(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise ValueError(f"phase {spec.name!r}: unreadable CIF {str(path)!r}: {exc}") from None
    if st.spacegroup is None:
        raise ValueError(f"phase {spec.name!r}: the CIF {str(path)!r} names no space group gemmi knows "
                         f"(H-M {st.spacegroup_hm!r}); add _space_group_name_H-M_alt or use space_group:")
    cell = (st.cell.a, st.cell.b, st.cell.c, st.cell.alpha, st.cell.beta, st.cell.gamma)
    if not st.cell.is_compatible_with_spacegroup(st.spacegroup, 1e-4):
        raise ValueError(f"phase {spec.name!r}: the CIF cell {cell} is inconsistent with {st.spacegroup.xhm()}")
    return Phase(spec.name, spec.role, st.spacegroup, cell, _ready(st) if len(st.sites) else None, source=str(path))


def build_phase(spec: PhaseSpec, base_dir: Path) -> Phase:
    if spec.cif is not None:
        return _phase_from_cif(spec, base_dir)
    sg = _space_group(spec.space_group, spec.name)
    cell = implied_cell(sg, spec.cell, spec.name)
    structure = _structure_from_atoms(sg, cell, spec.atoms) if spec.atoms else None
    return Phase(spec.name, spec.role, sg, cell, structure, source="settings")


def parse_settings(settings: dict[str, Any]) -> PhaseSettings:
    try:
        return PhaseSettings.model_validate(dict(settings or {}))
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())) from None


def check_settings(settings: dict[str, Any], base_dir: Path) -> None:
    """Campaign-load check of ``settings.sxpd``: every declared phase builds (CIF read, space group known,
    cell consistent with its crystal system); raises ValueError naming the phase and the defect."""
    parsed = parse_settings(settings)
    for spec in parsed.phases or []:
        build_phase(spec, base_dir)


@lru_cache(maxsize=8)
def _declared(key: str, base_dir: str) -> tuple[Phase, ...]:
    import json
    parsed = parse_settings({"phases": json.loads(key)})
    return tuple(build_phase(spec, Path(base_dir)) for spec in parsed.phases)


def declared_phases(settings: dict[str, Any], base_dir: Path, sample_id: str | None) -> tuple[Phase, ...] | None:
    """The phases a sample's patterns are fitted with; None when the campaign declares none (the default)."""
    import json
    parsed = parse_settings(settings)
    if parsed.phases is None:
        return None
    phases = _declared(json.dumps([p.model_dump() for p in parsed.phases], sort_keys=True), str(base_dir))
    chosen = parsed.sample_phases.get(str(sample_id)) if sample_id is not None else None
    return tuple(p for p in phases if chosen is None or p.name in chosen)


#: today's NCM622 model (R-3m, obverse hexagonal setting): M on 3a, Li on 3b, O on 6c
_NCM_ATOMS = [AtomSite(label="Ni", element="Ni", x=0, y=0, z=0, occupancy=0.6),
              AtomSite(label="Co", element="Co", x=0, y=0, z=0, occupancy=0.2),
              AtomSite(label="Mn", element="Mn", x=0, y=0, z=0, occupancy=0.2),
              AtomSite(label="Li", element="Li", x=0, y=0, z=0.5),
              AtomSite(label="O", element="O", x=0, y=0, z=0.2414)]
_CUBIC = {"fcc": "F m -3 m", "bcc": "I m -3 m", "diamond": "F d -3 m"}


@lru_cache(maxsize=4)
def _default(cell_parts: tuple[tuple[str, str, float, str], ...]) -> tuple[Phase, ...]:
    ncm = build_phase(PhaseSpec(name="NCM", role="main", space_group="R -3 m:H", cell=CellSpec(a=2.87, c=14.2),
                                atoms=_NCM_ATOMS), Path("."))
    parts = []
    for name, element, a, lattice in cell_parts:
        spec = PhaseSpec(name=name, role="cell_part", space_group=_CUBIC[lattice], cell=CellSpec(a=a),
                         atoms=[AtomSite(label=element, element=element, x=0, y=0, z=0)])  # Fd-3m:1: 8a at 0
        phase = build_phase(spec, Path("."))
        phase.fixed = True
        parts.append(phase)
    return (ncm, *parts)


def default_phases(params_phases: dict[str, Any]) -> tuple[Phase, ...]:
    """NCM622 R-3m main + the parameter set's cell parts (Al, Li), whose lines stay at their declared cell."""
    key = tuple((name, str(spec.get("element", name)), float(spec["a_angstrom"]), str(spec["lattice"]))
                for name, spec in params_phases.items())
    return _default(key)
