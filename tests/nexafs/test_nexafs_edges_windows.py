"""Issue 18, XAS: any xraydb edge is processed, pre-/post-edge windows follow E0 (absolute as an
option), and a window with too few points leaves its features null with a flag naming it.

Expected energies come from xraydb's tables and from the constructions of the spec-built files
(XDI 1.0 text written here per the spec), never from our own output."""
from __future__ import annotations

import copy
import dataclasses
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xraydb

from foundation.contract import ProcessContext
from foundation.parameters import load_params, validate_parameters
from foundation.registry import read_measurements
from schemas.core import conform
from tasks.nexafs.edges import resolve_edge
from tasks.nexafs.features import FEATURE_COLUMNS
from tasks.nexafs.parameters import NexafsParameters
from tasks.nexafs.plugin import TECHNIQUE
from tasks.testing import assert_nulls_have_reasons, sha256_of

#: E0 (steepest rise) of a foil against xraydb's tabulated edge energy: metal foils put the first
#: inflection at the tabulated value within the monochromator calibration (~1 eV at 13-BM/13-ID)
E0_TOLERANCE_EV = 2.0


def _no_warehouse(sql, params=None):
    raise RuntimeError("no tables yet")


def params_with(**changes):
    """The default parameter set with dotted keys changed (still checked against the model)."""
    base = load_params(TECHNIQUE.default_params)
    values = copy.deepcopy(base.values)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = values
        for part in path:
            node = node[part]
        node[last] = value
    validate_parameters(NexafsParameters, values, "test")
    return dataclasses.replace(base, values=values, digest="test")


def process_file(path: Path, params=None, options=None) -> list[dict[str, pd.DataFrame]]:
    """Read through the registry, process with an empty warehouse; every frame passes its contract and
    no numerical warning escapes and every null of a feature column has its reason (a NaN must come with
    a flag, not with a RuntimeWarning)."""
    _, ms = read_measurements(path, sha256_of(path), path.name, technique_name="nexafs", options=options)
    ctx = ProcessContext(campaign=None, sample=None, params=params or load_params(TECHNIQUE.default_params),
                         options={}, query=_no_warehouse)
    specs = {t.name: t for t in TECHNIQUE.tables}
    outs = []
    for m in ms:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = TECHNIQUE.process(m, ctx)
        for table, df in out.items():
            conform(specs[table], df.assign(
                campaign="c", sample_id=None, technique="nexafs", mode=m.mode, measurement_id=m.measurement_id,
                raw_sha256=m.provenance.raw_sha256, reader=m.provenance.reader, params_id="p", flow_run_id=None,
                processed_at=pd.Timestamp(datetime(2026, 1, 1, tzinfo=timezone.utc))))
        assert_nulls_have_reasons(TECHNIQUE.tables, {t: df.assign(mode=m.mode) for t, df in out.items()})
        outs.append(out)
    return outs


def write_xdi(path: Path, energy: np.ndarray, mu: np.ndarray, header: dict[str, str]) -> Path:
    """An XDI 1.0 file per the spec: version line, Namespace.tag fields, Column.N, '#----', rows."""
    lines = ["# XDI/1.0", "# Column.1: energy eV", "# Column.2: mutrans"]
    lines += [f"# {k}: {v}" for k, v in header.items()]
    lines += ["# ///", "# spec-built for tests/nexafs/test_nexafs_edges_windows.py", "#----", "# energy mutrans"]
    lines += [f"{e:.4f} {y:.8f}" for e, y in zip(energy, mu)]
    path.write_text("\n".join(lines) + "\n")
    return path


def arctan_step(e: np.ndarray, centre: float, width: float) -> np.ndarray:
    return 0.5 + np.arctan((e - centre) / width) / np.pi


def flags_of(out) -> str:
    return out["xas_spectra"].quality_flags.iloc[0]


# --- real files: any edge is processed; E0 against xraydb --------------------------------------------

@pytest.mark.parametrize("rel,element,level", [("peer/xdi/v_foil.xdi", "V", "K"),
                                               ("real/xas/NiK_references/ni_metal_rt.xdi", "Ni", "K")])
def test_real_foils_have_e0_at_the_tabulated_edge(real, rel, element, level):
    (out,) = process_file(real.parent / rel)
    s, f = out["xas_spectra"].iloc[0], out["xas_features"].iloc[0]
    assert s.edge == f"{element}_{level}" and s.edge_source == "header"
    assert abs(s.e0_ev - xraydb.xray_edge(element, level).energy) <= E0_TOLERANCE_EV
    assert np.isfinite(s.edge_step) and s.edge_step > 0
    assert "too_short" not in s.quality_flags and "too_short" not in f.fit_flags
    # the K-edge features are computed; the L- and O K-edge ones are null and named as not applicable
    k_features = ("k_half_step_ev", "k_white_line_ev", "k_first_inflection_ev")
    assert f.fit_flags.endswith(f"not applicable to {element}_{level} reference spectra")
    assert not any(c in f.fit_flags for c in k_features) and "ok_peak_529_ev" in f.fit_flags
    assert np.isfinite([f[c] for c in k_features]).all()


def test_v_foil_without_a_section_gets_athena_windows_around_its_e0(peer):
    """V K has no 'edges' section: relative windows, Athena's [-150, -30] and [150, 400] eV from E0."""
    assert "V_K" not in load_params(TECHNIQUE.default_params).values["edges"]
    (out,) = process_file(peer / "xdi/v_foil.xdi")
    s = out["xas_spectra"].iloc[0]
    assert s.window_mode == "relative"
    np.testing.assert_allclose([s.pre_edge_from_ev, s.pre_edge_to_ev, s.post_edge_from_ev, s.post_edge_to_ev],
                               [s.e0_ev - 150, s.e0_ev - 30, s.e0_ev + 150, s.e0_ev + 400], atol=1e-3)


def test_fe_scan_that_stops_before_its_edge_is_processed_with_null_e0_and_flags(peer):
    """The real fe_xanes_8ch.xdi ends at 7108.6 eV (its last data row), below Fe K at 7112.0 eV:
    no E0 and no post-edge can be measured, so they are null with the reason, never a bare NaN."""
    path = peer / "xdi/fe_xanes_8ch.xdi"
    last_energy = float([ln.split()[0] for ln in path.read_text().splitlines() if not ln.startswith("#")][-1])
    assert last_energy < xraydb.xray_edge("Fe", "K").energy
    (out,) = process_file(path)
    s, f = out["xas_spectra"].iloc[0], out["xas_features"].iloc[0]
    assert s.edge == "Fe_K" and pd.isna(s.e0_ev) and pd.isna(s.edge_step)
    assert "e0_not_measured" in s.quality_flags
    assert "post_edge_too_short" in s.quality_flags and "holds 0 measured points" in f.fit_flags
    assert f[list(FEATURE_COLUMNS)].isna().all()


# --- the issue's Ni K scan of 8330-8370 eV: null + flag, absolute or relative -------------------------

def cropped_ni_k(tmp_path: Path, real: Path) -> Path:
    """The real Ni metal foil scan cut to 8330-8370 eV, as the issue's scan covers."""
    src = real / "xas/NiK_references/ni_metal_rt.xdi"
    lines = src.read_text().splitlines()
    keep = [ln for ln in lines if ln.startswith("#") or 8330.0 <= float(ln.split()[0]) <= 8370.0]
    p = tmp_path / "ni_k_8330_8370.xdi"
    p.write_text("\n".join(keep) + "\n")
    return p


def test_ni_k_scan_of_40_ev_with_absolute_windows_gives_null_features_and_flags(tmp_path, real):
    p = cropped_ni_k(tmp_path, real)
    (out,) = process_file(p)  # the default set keeps Ni_K's absolute windows 8250-8310 / 8400-8450 eV
    s, f = out["xas_spectra"].iloc[0], out["xas_features"].iloc[0]
    assert s.window_mode == "absolute" and s.edge == "Ni_K"
    assert "pre_edge_too_short: 8250.0-8310.0 eV holds 0 measured points (needs 3)" in f.fit_flags
    assert "post_edge_too_short: 8400.0-8450.0 eV holds 0 measured points (needs 3)" in f.fit_flags
    assert "pre_edge_too_short" in s.quality_flags and pd.isna(s.edge_step)
    assert f[list(FEATURE_COLUMNS)].isna().all()
    assert out["xas_points"].mu_normalised.isna().all() and out["xas_points"].mu_over_i0.notna().all()


def test_ni_k_scan_of_40_ev_with_relative_windows_gives_null_features_and_flags(tmp_path, real):
    p = cropped_ni_k(tmp_path, real)
    (out,) = process_file(p, params_with(**{"edges.Ni_K.windows": "relative"}))
    s, f = out["xas_spectra"].iloc[0], out["xas_features"].iloc[0]
    assert s.window_mode == "relative" and abs(s.e0_ev - 8333.0) <= E0_TOLERANCE_EV
    assert "pre_edge_too_short" in f.fit_flags and "post_edge_too_short" in f.fit_flags
    assert f[list(FEATURE_COLUMNS)].isna().all()


def test_min_points_is_the_threshold(tmp_path, real):
    """A window with exactly min_points points is used; one more required and it is flagged."""
    e = np.arange(8300.0, 8400.01, 1.0)
    mu = 0.1 + arctan_step(e, 8333.0, 2.0)
    p = write_xdi(tmp_path / "ni.xdi", e, mu, {"Element.symbol": "Ni", "Element.edge": "K"})
    window = {"edges.Ni_K.windows": "absolute", "edges.Ni_K.pre_edge": [8300.0, 8302.0],
              "edges.Ni_K.post_edge": [8390.0, 8400.0]}  # 3 and 11 points
    (ok,) = process_file(p, params_with(**window))
    assert "too_short" not in flags_of(ok) and np.isfinite(ok["xas_spectra"].edge_step.iloc[0])
    (short,) = process_file(p, params_with(**window, **{"normalisation.min_points": 4}))
    assert "pre_edge_too_short: 8300.0-8302.0 eV holds 3 measured points (needs 4)" in flags_of(short)


# --- spec-built L2,3 and M4,5 edges without a section ----------------------------------------------

def test_fe_l23_edge_from_xraydb_with_relative_windows(tmp_path):
    """Fe L2,3 (no section): steps at xraydb's L3 and L2, white lines of areas 2:1 on a 2:1 step."""
    l3, l2 = xraydb.xray_edges("Fe")["L3"].energy, xraydb.xray_edges("Fe")["L2"].energy
    e = np.arange(695.0, 740.0, 0.1)
    jump = 0.8
    steps = (2 * arctan_step(e, l3, 0.8) + arctan_step(e, l2, 0.8)) / 3
    white = 2.0 * np.exp(-0.5 * ((e - l3 - 1.5) / 0.6) ** 2) + 1.0 * np.exp(-0.5 * ((e - l2 - 1.5) / 0.6) ** 2)
    mu = 0.3 + 0.002 * (e - 695) + jump * (steps + white)
    p = write_xdi(tmp_path / "fe_l23.xdi", e, mu, {"Element.symbol": "Fe", "Element.edge": "L3"})
    (out,) = process_file(p)
    s, f = out["xas_spectra"].iloc[0], out["xas_features"].iloc[0]
    assert s.edge == "Fe_L" and s.element == "Fe" and s.window_mode == "relative"
    assert l3 - 1.0 <= s.e0_ev <= l3 + 1.5  # the rise of the L3 white line, above the L3 step
    assert s.post_edge_from_ev == pytest.approx(s.e0_ev + (l2 - l3) + 6.0, abs=1e-3)  # above L2
    assert "too_short" not in s.quality_flags
    assert f.l3_l2_branching_ratio == pytest.approx(2 / 3, abs=0.03)
    assert abs(f.l3_centroid_ev - (l3 + 1.5)) <= 0.5


def test_ba_m45_edge_declared_in_the_header_wins_over_an_ambiguous_range(tmp_path):
    """770-830 eV rising at Ba M5 is ambiguous by energy alone (Co L3 is 2 eV away); the header
    says Ba M4,5, which is what the spectrum becomes: an M edge normalised on xraydb's M5/M4."""
    m5, m4 = xraydb.xray_edges("Ba")["M5"].energy, xraydb.xray_edges("Ba")["M4"].energy
    e = np.arange(760.0, 830.0, 0.1)
    jump = 0.5
    mu = 1.0 + 0.001 * (e - 760) + jump * (3 * arctan_step(e, m5, 0.8) + 2 * arctan_step(e, m4, 0.8)) / 5
    with pytest.raises(Exception, match="ambiguous"):
        resolve_edge(None, e, mu)
    p = write_xdi(tmp_path / "ba_m45.xdi", e, mu, {"Element.symbol": "Ba", "Element.edge": "M5"})
    (out,) = process_file(p)
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("Ba_M", "header")
    assert abs(s.e0_ev - m5) <= 0.5
    assert s.edge_step == pytest.approx(jump, rel=0.02)
    assert "too_short" not in s.quality_flags and "e0_not_measured" not in s.quality_flags


# --- who names the edge: header, then energy range, then the share's configuration ------------------

def test_header_element_wins_over_the_energy_range_and_the_configuration(tmp_path):
    e = np.arange(5400.0, 5600.0, 0.5)
    mu = 0.1 + arctan_step(e, 5465.0, 1.5)  # rises at V K
    p = write_xdi(tmp_path / "declared.xdi", e, mu, {"Element.symbol": "Cr", "Element.edge": "K"})
    (out,) = process_file(p, options={"edge": "Ti_K"})
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("Cr_K", "header")  # Cr K (5989 eV) is outside: flagged, not replaced
    assert "edge_outside_scan" in s.quality_flags


def test_energy_range_wins_over_the_configuration_and_configuration_is_the_last_resort(tmp_path):
    e = np.arange(5400.0, 5600.0, 0.5)
    p = write_xdi(tmp_path / "silent.xdi", e, 0.1 + arctan_step(e, 5465.0, 1.5), {})
    (out,) = process_file(p, options={"edge": "Ti_K"})
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("V_K", "energy_range") and "edge_from_energy_range" in s.quality_flags
    e = np.arange(760.0, 830.0, 0.1)
    q = write_xdi(tmp_path / "ambiguous.xdi", e, 1.0 + arctan_step(e, 779.0, 0.8), {})
    (out,) = process_file(q, options={"edge": "Co_L"})
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("Co_L", "configuration") and "edge_from_configuration" in s.quality_flags


def _manifest_what(real: Path, rel: str) -> str:
    """The 'what it is' words of a real file in tests/data/real/MANIFEST.md (written when it was added)."""
    row = next(ln for ln in (real / "MANIFEST.md").read_text(encoding="utf-8").splitlines() if f"`{rel}`" in ln)
    return row.split("|")[-2]


@pytest.mark.parametrize("rel,edge,words", [
    ("xas/LiNiO2_operando_NiK/norm_op2_cell4_pos1_dq1_0001_av240_00001.txt", "Ni_K", "Ni K-edge"),
    ("xas/soft_OK_edge_ausync/sxr129598.asc", "O_K", "O K-edge")])
def test_real_files_that_do_not_name_their_edge_get_it_from_the_energy_range(real, rel, edge, words):
    """Neither file's header names an edge; MANIFEST.md (their source's description) says which it is."""
    assert words in _manifest_what(real, rel)
    for out in process_file(real / rel, options={"edge": "Co_L"}):  # the range wins over the share's edge
        s = out["xas_spectra"].iloc[0]
        assert (s.edge, s.edge_source) == (edge, "energy_range") and "edge_from_energy_range" in s.quality_flags


def _v_foil_without_element(peer: Path, tmp_path: Path, e_max: float | None = None) -> Path:
    """The real V foil XDI with its Element.* header lines removed (and its rows cut at ``e_max``)."""
    lines = [ln for ln in (peer / "xdi/v_foil.xdi").read_text().splitlines() if not ln.startswith("# Element.")]
    if e_max is not None:
        lines = [ln for ln in lines if ln.startswith("#") or float(ln.split()[0]) <= e_max]
    p = tmp_path / "v_foil_no_element.xdi"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_real_v_foil_header_then_range_then_configuration(peer, tmp_path):
    """One real scan through the three sources: its header (Element.symbol V, Element.edge K) beats the
    share's edge; without those lines the range (V K at xraydb's 5465 eV inside 5385-6090 eV) does; cut
    below the edge, only the share's configured edge is left, flagged, and its features null with reasons."""
    (out,) = process_file(peer / "xdi/v_foil.xdi", options={"edge": "Ti_K"})
    assert (out["xas_spectra"].edge.iloc[0], out["xas_spectra"].edge_source.iloc[0]) == ("V_K", "header")
    v_k = xraydb.xray_edge("V", "K").energy
    (out,) = process_file(_v_foil_without_element(peer, tmp_path), options={"edge": "Ti_K"})
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("V_K", "energy_range") and abs(s.e0_ev - v_k) <= E0_TOLERANCE_EV
    (out,) = process_file(_v_foil_without_element(peer, tmp_path, e_max=v_k - 25.0), options={"edge": "V_K"})
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("V_K", "configuration") and "edge_from_configuration" in s.quality_flags
    assert "e0_not_measured" in s.quality_flags


# --- the parameter model --------------------------------------------------------------------------

def test_absolute_windows_need_their_energies():
    with pytest.raises(ValueError, match="windows: absolute needs pre_edge and post_edge"):
        params_with(**{"edges.Ni_L.windows": "absolute", "edges.Ni_L.pre_edge": None})
    with pytest.raises(ValueError, match="windows"):
        params_with(**{"normalisation.windows": "percent"})


def test_raw_kara_scan_of_fe_l23_is_processed_without_a_section(tmp_path):
    """Raw TEY channels (KARA layout as its header lines and tab columns are written), 'Edge: Fe L2,3':
    the issue's Fe L2,3 scan that used to hold 'none of the known edges'."""
    l3, l2 = xraydb.xray_edges("Fe")["L3"].energy, xraydb.xray_edges("Fe")["L2"].energy
    e = np.round(np.arange(698.0, 735.01, 0.1), 3)
    i0 = 2.0e-10 * (1 + 0.05 * np.linspace(0, 1, e.size))
    mu = 0.6 + 0.4 * (2 * arctan_step(e, l3, 0.5) + arctan_step(e, l2, 0.5)) / 3
    tey = i0 * 0.05 * mu + 5e-13
    header = ["# KARA soft X-ray scan", "# Beamline: KARA WERA", "# Scan: 00007", "# Sample: LFP",
              "# Edge: Fe L2,3", "# Dark I0 (A): 0.0", "# Dark TEY (A): 5.0e-13", "# Energy(eV)\tI0(A)\tTEY(A)"]
    rows = [f"{a:.3f}\t{b:.6e}\t{c:.6e}" for a, b, c in zip(e, i0, tey)]
    p = tmp_path / "fe_l23_kara.txt"
    p.write_text("\n".join(header + rows) + "\n")
    (out,) = process_file(p)
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.input_kind, s.edge_source) == ("Fe_L", "xas_scan", "header")
    assert abs(s.e0_ev - l3) <= 0.5
    # edge jump of signal/I0 built in: 0.05 * 0.4; the construct's steps (0.5 eV wide) are sharper than
    # the model's (soft step_width_ev 0.8 eV), which costs a few per cent on the fitted jump
    assert s.edge_step == pytest.approx(0.05 * 0.4, rel=0.06)
    assert "too_short" not in s.quality_flags


def test_nxxas_edge_holding_only_the_level_takes_the_element_beside_it(tmp_path):
    import h5py

    from tests.nexafs.test_nexafs_issue15 import write_real_layout_nxxas

    p = tmp_path / "fe_foil.nxs"
    write_real_layout_nxxas(p)
    with h5py.File(p, "a") as fh:
        del fh["entry/edge"]
        fh["entry/edge"], fh["entry/element"] = "K", "Fe"
    (out,) = process_file(p)
    s = out["xas_spectra"].iloc[0]
    assert (s.edge, s.edge_source) == ("Fe_K", "header")
    assert abs(s.e0_ev - xraydb.xray_edge("Fe", "K").energy) <= E0_TOLERANCE_EV


def test_absolute_mode_for_an_edge_without_absolute_windows_falls_back_to_relative_with_a_flag(peer):
    (out,) = process_file(peer / "xdi/v_foil.xdi", params_with(**{"normalisation.windows": "absolute"}))
    s = out["xas_spectra"].iloc[0]
    assert s.window_mode == "relative" and "windows_relative: absolute windows asked for" in s.quality_flags
    assert np.isfinite(s.edge_step)


# --- end members per element and edge: bounded valence fraction --------------------------------------

def _fe_l(e: np.ndarray, shift: float) -> np.ndarray:
    """Normalised Fe L2,3 of one valence: 2:1 steps at xraydb's L3/L2 and white lines 1.2 eV above them,
    all moved by the chemical ``shift`` (a higher valence moves the whole edge up)."""
    l3, l2 = xraydb.xray_edges("Fe")["L3"].energy + shift, xraydb.xray_edges("Fe")["L2"].energy + shift
    g = lambda c: np.exp(-0.5 * ((e - c) / 0.6) ** 2)  # noqa: E731
    return (2 * arctan_step(e, l3, 0.8) + arctan_step(e, l2, 0.8)) / 3 + 2.0 * g(l3 + 1.2) + g(l2 + 1.2)


def test_valence_fraction_of_fe_l_from_declared_end_members_is_bounded_and_flagged(tmp_path):
    import duckdb

    e = np.arange(695.0, 740.0, 0.1)
    fe2, fe3 = _fe_l(e, 0.0), _fe_l(e, 1.6)
    params = params_with(**{"valence.Fe_L": {"low": "Fe2+", "high": "Fe3+", "window": [704.0, 712.0]}})
    header = {"Element.symbol": "Fe", "Element.edge": "L3"}
    frames: dict[str, list[pd.DataFrame]] = {"xas_spectra": [], "xas_points": []}
    for name, mu, role in (("fe2.xdi", fe2, "low_valence_reference"), ("fe3.xdi", fe3, "high_valence_reference")):
        (out,) = process_file(write_xdi(tmp_path / name, e, 0.2 + 0.5 * mu, header), params, {"role": role})
        for table in frames:
            frames[table].append(out[table].assign(measurement_id=name))
    con = duckdb.connect()
    for table, dfs in frames.items():
        con.register(table, pd.concat(dfs, ignore_index=True))

    def query(sql, args=None):
        return con.execute(sql, args or []).df()

    results = {}
    for name, f in (("mix.xdi", 0.3), ("beyond.xdi", 1.25)):  # 1.25 Fe2+ - 0.25 Fe3+: outside [0, 1]
        p = write_xdi(tmp_path / name, e, 0.2 + 0.5 * (f * fe2 + (1 - f) * fe3), header)
        _, (m,) = read_measurements(p, sha256_of(p), p.name, technique_name="nexafs", options={"role": "sample"})
        ctx = ProcessContext(campaign=None, sample=None, params=params, options={}, query=query)
        results[name] = TECHNIQUE.process(m, ctx)["xas_features"].iloc[0]
    mix, beyond = results["mix.xdi"], results["beyond.xdi"]
    assert mix.valence_end_members == "Fe2+/Fe3+"
    assert mix.valence_fraction == pytest.approx(0.3, abs=0.03) and 0 < mix.valence_fraction_sigma < 0.05
    assert "valence_fraction_at_bound" not in mix.fit_flags
    assert beyond.valence_fraction == 1.0 and np.isfinite(beyond.valence_fraction_sigma)
    assert "valence_fraction_at_bound: Fe2+/Fe3+ free fit gives 1.2" in beyond.fit_flags


def test_valence_fraction_without_references_is_null_with_a_reason(tmp_path):
    e = np.arange(695.0, 740.0, 0.1)
    params = params_with(**{"valence.Fe_L": {"low": "Fe2+", "high": "Fe3+", "window": [704.0, 712.0]}})
    p = write_xdi(tmp_path / "s.xdi", e, 0.2 + 0.5 * _fe_l(e, 0.5), {"Element.symbol": "Fe", "Element.edge": "L3"})
    (out,) = process_file(p, params, {"role": "sample"})
    f = out["xas_features"].iloc[0]
    assert pd.isna(f.valence_fraction) and "no_end_member_references" in f.fit_flags
