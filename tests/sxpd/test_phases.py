"""Declared phases (settings.sxpd.phases): validation at campaign load, reflection lists against gemmi and
against the hand-built NCM list, cells of several crystal systems refined from positions computed with
gemmi's own UnitCell.calculate_d (an independent path), Hill–Howard weight fractions of a two-phase pattern."""
from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np
import pytest
import yaml

from tasks.sxpd.analysis import Instrument
from tasks.sxpd.cell_fit import fit_cells
from tasks.sxpd.crystallography import ncm_reflections
from tasks.sxpd.metric import basis, coefficients, reflection_list, start_parameters
from tasks.sxpd.phases import (
    CellSpec,
    PhaseSpec,
    build_phase,
    check_settings,
    default_phases,
)
from tests.sxpd.lfp_pattern import (
    AL_CIF,
    CIF,
    FP_CIF,
    add_lines,
    lfp_pattern,
    phase_lines,
)

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "tasks/sxpd/params/default.yaml").read_text())
LFP = {"name": "LFP", "role": "main", "cif": str(CIF)}


@pytest.mark.parametrize("phases, words", [
    ([{**LFP, "cif": "missing.cif"}], ["LFP", "unreadable CIF"]),
    ([{"name": "X", "role": "main", "space_group": "P 9 z", "cell": {"a": 5}}], ["X", "unknown space group"]),
    ([{"name": "T", "role": "main", "space_group": "P 4/m m m", "cell": {"a": 4, "b": 4.2, "c": 6}}],
     ["T", "inconsistent", "tetragonal"]),
    ([{"name": "M", "role": "main", "space_group": "P 1 21/c 1", "cell": {"a": 5, "b": 6, "c": 7}}], ["M", "beta"]),
    ([LFP, {**LFP, "role": "secondary"}], ["unique", "LFP"]),
    ([{**LFP, "role": "secondary"}], ["exactly one", "main"]),
])
def test_bad_phase_settings_are_refused_naming_phase_and_defect(tmp_path, phases, words) -> None:
    with pytest.raises(ValueError) as err:
        check_settings({"phases": phases}, tmp_path)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_campaign_load_refuses_a_bad_phase(tmp_path) -> None:
    from foundation.config import ConfigError, parse_campaign
    data = {"name": "x", "samples": [{"id": "S", "series": "operando", "branch": "cycle"}],
            "settings": {"sxpd": {"phases": [{"name": "Q", "role": "main", "space_group": "F m -3 m",
                                              "cell": {"a": 4, "c": 5}}]}}}
    with pytest.raises(ConfigError, match=r"settings\.sxpd: .*Q.*inconsistent"):
        parse_campaign(data, "c.yaml", tmp_path)


def test_implied_cell_parameters_follow_the_crystal_system() -> None:
    hexa = build_phase(PhaseSpec(name="H", role="main", space_group=194, cell=CellSpec(a=3.2, c=5.2)), Path("."))
    assert hexa.cell == (3.2, 3.2, 5.2, 90.0, 90.0, 120.0) and hexa.crystal_system == "hexagonal"
    mono = build_phase(PhaseSpec(name="M", role="main", space_group="C 1 2/c 1",
                                 cell=CellSpec(a=9.7, b=8.8, c=5.3, beta=105.0)), Path("."))
    assert mono.cell[3:] == (90.0, 105.0, 90.0) and basis(mono).shape == (4, 6)


def test_default_ncm_reflections_match_the_hand_built_list() -> None:
    ncm = default_phases(PARAMS["phases"])[0]
    rl = reflection_list(ncm, 1.0)
    d = 1 / np.sqrt(rl.inv_d2(start_parameters(ncm, (2.87, 2.87, 14.2, 90, 90, 120))))
    ref = ncm_reflections(2.87, 14.2, 1.0)
    assert np.allclose(np.sort(d[d >= 1.0]), np.sort(ref.d_angstrom), rtol=1e-12)


@pytest.mark.parametrize("sg, true, start", [
    ("P 1 21/c 1", (5.1, 6.3, 7.4, 90, 101.5, 90), (5.12, 6.28, 7.42, 90, 101.0, 90)),
    ("P 63/m m c", (3.21, 3.21, 5.21, 90, 90, 120), (3.2, 3.2, 5.2, 90, 90, 120)),
    ("I 41/a m d", (3.79, 3.79, 9.51, 90, 90, 90), (3.8, 3.8, 9.5, 90, 90, 90)),
    ("P -1", (5.0, 6.0, 7.0, 80.0, 95.0, 105.0), (5.01, 5.99, 7.02, 80.3, 94.8, 105.2)),
])
def test_cell_from_gemmi_positions_any_crystal_system(sg, true, start) -> None:
    names = dict(zip(["a", "b", "c", "alpha", "beta", "gamma"], start))
    phase = build_phase(PhaseSpec(name="P", role="main", space_group=sg, cell=CellSpec(**names)), Path("."))
    lam, cell = 0.8, gemmi.UnitCell(*true)
    hkl = np.asarray(gemmi.make_miller_array(cell, phase.space_group, 1.2, 0, True))[:40]
    tt = np.array([np.degrees(2 * np.arcsin(lam / (2 * cell.calculate_d(list(map(int, h)))))) for h in hkl]) + 0.003
    fit = fit_cells([("P", coefficients(hkl) @ basis(phase).T, start_parameters(phase), basis(phase))],
                    tt, np.full(len(tt), 1e-4), lam, refine_zero=True)
    got = fit.cells["P"]
    assert np.allclose(got.values[:6], true, atol=1e-6) and abs(fit.zero_shift - 0.003) < 1e-7
    assert abs(got.values[6] - cell.volume) < 1e-5


#: Z·M (g/mol, cell content from the formula: 4 LiFePO4; 4 Al; 4 FePO4) and V (Å³) of the phases, by hand
ZMV = {"LFP": 4 * (6.941 + 55.845 + 30.974 + 4 * 15.999) * 10.329 * 6.0065 * 4.6908,
       "Al2": 4 * 26.982 * 4.0495**3, "FP": 4 * (55.845 + 30.974 + 4 * 15.999) * 9.821 * 5.792 * 4.788}
CELLS = {"LFP": (10.329, 6.0065, 4.6908, 90, 90, 90), "Al2": (4.0495,) * 3 + (90,) * 3, "FP": (9.821, 5.792, 4.788, 90, 90, 90)}


@pytest.mark.parametrize("second, w_lfp", [("Al2", 0.3), ("Al2", 0.8), ("FP", 0.7), ("FP", 0.2)])
def test_hill_howard_weight_fractions_of_a_two_phase_pattern(tmp_path, second, w_lfp) -> None:
    from tasks.sxpd.phase_analysis import analyse_phases
    from tasks.sxpd.phase_cells import phase_rows

    lam = 0.825
    (tmp_path / "second.cif").write_text(AL_CIF if second == "Al2" else FP_CIF)
    x = np.arange(3.0, 36.0, 0.002)
    y = np.full_like(x, 200.0)
    k = 6.0e4  # counts scale: S_p = k·w_p/(ZMV)_p (Hill & Howard 1987)
    for cif, name, w in ((CIF, "LFP", w_lfp), (tmp_path / "second.cif", second, 1 - w_lfp)):
        add_lines(x, y, phase_lines(gemmi.read_small_structure(str(cif)), gemmi.UnitCell(*CELLS[name]), lam, 37.0),
                  k * w / ZMV[name])
    y = np.random.default_rng(7).poisson(y).astype(float)
    phases = (build_phase(PhaseSpec(**LFP), tmp_path),
              build_phase(PhaseSpec(name=second, role="secondary", cif="second.cif"), tmp_path))
    res = analyse_phases(x, y, np.sqrt(np.maximum(y, 1)), Instrument(lam, 0.0, (0.0, 0.0, 1e-4)), PARAMS, phases)
    rows = {r["phase"]: r for r in phase_rows(phases, res.cells, res.peaks, res.f2, res.multiplicity, {})}
    assert abs(rows["LFP"]["weight_fraction"] - w_lfp) < 0.01, rows["LFP"]
    assert abs(rows["LFP"]["weight_fraction"] + rows[second]["weight_fraction"] - 1) < 1e-12
    assert 0 < rows["LFP"]["weight_fraction_sigma"] < 0.01
    assert np.allclose([rows[second][k] for k in ("a_angstrom", "b_angstrom", "c_angstrom")], CELLS[second][:3], atol=1e-3)


@pytest.mark.parametrize("w_lfp", [0.09, 0.035, 0.95])
def test_minor_olivine_phase_beside_its_twin_keeps_its_own_cell(tmp_path, w_lfp) -> None:
    """LiFePO4 and FePO4 lines lie a few widths apart: a minor phase's template must not slide onto its
    neighbour's strong lines (9 % LiFePO4 once came back with a ≈ 10.25 Å from FePO4 lines, and no cell)."""
    from tasks.sxpd.phase_analysis import analyse_phases
    from tasks.sxpd.phase_cells import phase_rows

    lam = 0.825
    (tmp_path / "fp.cif").write_text(FP_CIF)
    x = np.arange(3.0, 36.0, 0.002)
    y = np.full_like(x, 200.0)
    for cif, name, w in ((CIF, "LFP", w_lfp), (tmp_path / "fp.cif", "FP", 1 - w_lfp)):
        add_lines(x, y, phase_lines(gemmi.read_small_structure(str(cif)), gemmi.UnitCell(*CELLS[name]), lam, 37.0),
                  6.0e4 * w / ZMV[name])
    y = np.random.default_rng(11).poisson(y).astype(float)
    phases = (build_phase(PhaseSpec(**LFP), tmp_path), build_phase(PhaseSpec(name="FP", role="secondary", cif="fp.cif"),
                                                                  tmp_path))
    res = analyse_phases(x, y, np.sqrt(np.maximum(y, 1)), Instrument(lam, 0.0, (0.0, 0.0, 1e-4)), PARAMS, phases)
    rows = {r["phase"]: r for r in phase_rows(phases, res.cells, res.peaks, res.f2, res.multiplicity, {})}
    for name in ("LFP", "FP"):
        assert np.allclose([rows[name][k] for k in ("a_angstrom", "b_angstrom", "c_angstrom")], CELLS[name][:3],
                           atol=1e-3), rows[name]
    assert abs(rows["LFP"]["weight_fraction"] - w_lfp) < 0.01, rows["LFP"]
    for name in ("LFP", "FP"):  # a phase found under 5 % says its cell is less certain
        assert ("minor_phase" in rows[name]["quality_flags"]) == (rows[name]["weight_fraction"] < 0.05), rows[name]
    assert ("minor_phase" in rows["LFP"]["quality_flags"]) == (w_lfp < 0.04)  # clearly minor, or clearly not


def test_phase_scale_ignores_a_degenerate_window() -> None:
    """A window whose width collapsed onto noise (area and σ near 0) must not set the scale: a σ floor
    relative to its own area once let one such line put a 22 % FePO4 mixture at 13 %."""
    from tasks.sxpd.crystallography import lorentz_polarisation
    from tasks.sxpd.phase_cells import phase_scale

    calc = np.array([4.5e6, 5.4e6, 1.4e6, 6.6e6, 1.7e6, 4.2e4])  # m·|F|²·LP, the last a weak line
    area = 9.2e-5 * calc * np.array([1.01, 0.99, 1.0, 1.02, 0.98, 0.0])
    area[-1] = 1.09  # fitted far too small...
    sigma = np.maximum(0.01 * area, 1.0)
    sigma[-1] = 1e-4  # ...with a degenerate σ
    n = len(calc)
    tt = np.linspace(5.0, 18.0, n)
    peaks = {"phase": np.full(n, "FP"), "fitted": np.ones(n, bool), "resolved": np.ones(n, bool), "area": area,
             "area_sigma": sigma, "predicted_deg": tt}
    scale, scale_sigma = phase_scale(peaks, calc / lorentz_polarisation(tt), np.ones(n), "FP")
    assert abs(scale / 9.2e-5 - 1) < 0.02 and scale_sigma < 0.02 * scale


def test_absent_phase_gets_a_row_with_null_cell_and_flag(tmp_path) -> None:
    from tasks.sxpd.phase_analysis import analyse_phases
    from tasks.sxpd.phase_cells import phase_rows

    x, y = lfp_pattern((10.329, 6.0065, 4.6908, 90, 90, 90), 0.825, seed=2)
    fp = PhaseSpec(name="FP", role="secondary", space_group="P n m a", cell=CellSpec(a=9.81, b=5.79, c=4.78))
    phases = (build_phase(PhaseSpec(**LFP), tmp_path), build_phase(fp, tmp_path))
    res = analyse_phases(x, y, np.sqrt(np.maximum(y, 1)), Instrument(0.825, 0.0, (0.0, 0.0, 1e-4)), PARAMS, phases)
    rows = {r["phase"]: r for r in phase_rows(phases, res.cells, res.peaks, res.f2, res.multiplicity, {})}
    assert rows["FP"]["a_angstrom"] is None and "phase_not_observed" in rows["FP"]["quality_flags"]
    assert rows["FP"]["weight_fraction"] is None and "no_atom_sites" in rows["FP"]["quality_flags"]
    assert abs(rows["LFP"]["a_angstrom"] - 10.329) < 0.001
    assert rows["LFP"]["weight_fraction"] is None and "weight_fraction_undetermined" in rows["LFP"]["quality_flags"]


def test_sample_phases_restrict_a_sample(tmp_path) -> None:
    from tasks.sxpd.phases import declared_phases
    settings = {"phases": [LFP, {"name": "FP", "role": "secondary", "space_group": 62,
                                 "cell": {"a": 9.81, "b": 5.79, "c": 4.78}}],
                "sample_phases": {"S-FP": ["FP"]}}
    assert [p.name for p in declared_phases(settings, tmp_path, "S-FP")] == ["FP"]
    assert [p.name for p in declared_phases(settings, tmp_path, "other")] == ["LFP", "FP"]
    assert declared_phases({"wavelength_angstrom": 0.8}, tmp_path, "S") is None
    with pytest.raises(ValueError, match="sample_phases.S-FP"):
        check_settings({**settings, "sample_phases": {"S-FP": ["XX"]}}, tmp_path)


def test_phases_with_no_reflection_in_range_are_refused(tmp_path) -> None:
    from foundation.contract import UnreadableFile
    from tasks.sxpd.phase_analysis import analyse_phases

    x, y = lfp_pattern((10.329, 6.0065, 4.6908, 90, 90, 90), 0.825, seed=1)
    tiny = build_phase(PhaseSpec(name="Tiny", role="main", space_group="P m -3 m", cell=CellSpec(a=0.3)), tmp_path)
    with pytest.raises(UnreadableFile, match="Tiny"):
        analyse_phases(x, y, np.sqrt(np.maximum(y, 1)), Instrument(0.825, 0.0, (0.0, 0.0, 1e-4)), PARAMS, (tiny,))


@pytest.mark.parametrize("soc", [5.0, 60.0, 95.0])
def test_declared_r3m_phase_agrees_with_the_ncm_path_within_sigma(soc) -> None:
    """NCM622 declared as space group + cell + atoms goes through the general path (metric tensor, gemmi
    reflections, axis-by-axis search from a cell up to 2 % off): a and c as the dedicated (a, c) path gives."""
    from tasks.demo_world import target
    from tasks.sxpd.analysis import analyse_pattern
    from tasks.sxpd.demo import two_theta_axis
    from tasks.sxpd.phase_analysis import analyse_phases
    from tasks.sxpd.phases import _NCM_ATOMS
    from tasks.sxpd.synthesis import (
        DEMO_CAGLIOTI_DEG2,
        DEMO_WAVELENGTH_ANGSTROM,
        DEMO_ZERO_OFFSET_DEG,
        Sample,
        counts,
        ncm_profile,
    )

    x = two_theta_axis(0.001)
    sample = Sample(float(target("a_angstrom", soc)), float(target("c_angstrom", soc)),
                    float(target("microstrain_c_pct", soc)))
    y, e = counts(ncm_profile(x, sample), np.random.default_rng([622, int(soc)]))
    inst = Instrument(DEMO_WAVELENGTH_ANGSTROM, DEMO_ZERO_OFFSET_DEG, DEMO_CAGLIOTI_DEG2)
    legacy = analyse_pattern(x, y, e, inst, PARAMS).lattice
    ncm = build_phase(PhaseSpec(name="NCM", role="main", space_group="R -3 m", cell=CellSpec(a=2.85, c=14.3),
                                atoms=_NCM_ATOMS), Path("."))
    parts = default_phases(PARAMS["phases"])[1:]
    params = {**PARAMS, "phase_search": {**PARAMS["phase_search"], "scale_range_pct": 2.5}}
    res = analyse_phases(x, y, e, inst, params, (ncm, *parts))
    got = res.cells.cells["NCM"]
    a, c = got.values[0], got.values[2]
    assert abs(a - sample.a_angstrom) <= 0.0005 and abs(c - sample.c_angstrom) <= 0.002
    assert abs(a - legacy.a) <= 3 * max(legacy.a_sigma, got.sigmas[0])
    assert abs(c - legacy.c) <= 3 * max(legacy.c_sigma, got.sigmas[2])
