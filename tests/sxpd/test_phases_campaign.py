"""Acceptance (issue 18): a campaign with a phase from a CIF (olivine LiFePO4, spec-built from the published
structure) and an XAS edge other than Ni/Co/Mn/O (real V K foil XDI from xraylarch) runs end to end through
the campaign flow; the sxpd rows carry the CIF phase's refined a, b, c, compared with the cell the pattern
was built with by an independent path (gemmi d-spacings, tests/sxpd/lfp_pattern.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.sxpd.lfp_pattern import CIF, lfp_pattern, write_xye

PEER = Path(__file__).resolve().parents[1] / "data" / "peer"
LAMBDA = 0.825
pytestmark = pytest.mark.slow  # the whole campaign flow, as the other end-to-end tests
TRUE = [(10.3200, 6.0100, 4.6950, 90, 90, 90), (10.3350, 6.0040, 4.6880, 90, 90, 90)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from foundation.config import load_campaign
    from tasks.pipeline import open_warehouse, run_local

    root = tmp_path_factory.mktemp("phases_e2e")
    (root / "share/sxpd/LFP-1").mkdir(parents=True)
    (root / "share/nexafs/V-1").mkdir(parents=True)
    shutil.copy(CIF, root / "LiFePO4_Pnma.cif")
    for i, cell in enumerate(TRUE):
        x, y = lfp_pattern(cell, LAMBDA, seed=i)
        write_xye(root / f"share/sxpd/LFP-1/i11-90000{i}_LFP-1.xye", x, y, 900000 + i, f"2026-05-04T09:0{i}:00")
    shutil.copy(PEER / "xdi/v_foil.xdi", root / "share/nexafs/V-1/v_foil.xdi")
    campaign = {
        "name": "lfp-phases", "samples": [{"id": "LFP-1", "series": "operando", "branch": "cycle"},
                    {"id": "V-1", "series": "cumulative", "branch": "pristine"}],
        "shares": [{"name": "i11", "url": "share/sxpd", "technique": "sxpd", "patterns": ["**/*.xye"],
                    "mapping": {"path_pattern": "^(?P<sample>[^/]+)/"}, "settle_seconds": 0},
                   {"name": "xas", "url": "share/nexafs", "technique": "nexafs", "patterns": ["**/*.xdi"],
                    "mapping": {"path_pattern": "^(?P<sample>[^/]+)/"}, "settle_seconds": 0}],
        "settings": {"sxpd": {"wavelength_angstrom": LAMBDA, "phases": [
            {"name": "LFP", "role": "main", "cif": "LiFePO4_Pnma.cif"},
            {"name": "Al", "role": "cell_part", "space_group": "F m -3 m", "cell": {"a": 4.05},
             "atoms": [{"label": "Al", "element": "Al", "x": 0, "y": 0, "z": 0}]}]}}}
    (root / "campaign.yaml").write_text(yaml.safe_dump(campaign))
    _, summary = run_local(root / "campaign.yaml", techniques=["sxpd", "nexafs"])
    return open_warehouse(load_campaign(root / "campaign.yaml")), summary


def test_cif_phase_cell_refined_per_pattern(warehouse) -> None:
    wh, summary = warehouse
    assert summary.quarantined == []
    rows = wh.query("select scan_number, a_angstrom, a_sigma_angstrom, b_angstrom, b_sigma_angstrom, c_angstrom, "
                    "c_sigma_angstrom, alpha_deg, alpha_sigma_deg, space_group, crystal_system, quality_flags "
                    "from sxpd_phase_cells where phase = 'LFP' order by scan_number")
    assert len(rows) == 2
    for (a, b, c, *_), row in zip(TRUE, rows.itertuples()):
        assert (row.space_group, row.crystal_system) == ("P n m a", "orthorhombic")
        for got, sig, want in ((row.a_angstrom, row.a_sigma_angstrom, a), (row.b_angstrom, row.b_sigma_angstrom, b),
                               (row.c_angstrom, row.c_sigma_angstrom, c)):
            assert abs(got - want) <= 0.001 and 0 < sig < 0.001
        assert row.alpha_deg == 90.0 and row.alpha_sigma_deg == 0.0


def test_main_phase_not_r3m_leaves_pattern_a_c_null_with_flag(warehouse) -> None:
    wh, _ = warehouse
    p = wh.query("select a_angstrom, c_angstrom, quality_flags from sxpd_patterns")
    assert p.a_angstrom.isna().all() and p.c_angstrom.isna().all()
    assert p.quality_flags.str.contains("sxpd_phase_cells").all()


def test_cell_part_refined_and_excluded_from_fractions(warehouse) -> None:
    wh, _ = warehouse
    al = wh.query("select a_angstrom, weight_fraction, quality_flags from sxpd_phase_cells where phase = 'Al'")
    assert (al.a_angstrom - 4.0495).abs().max() < 0.0005
    assert al.weight_fraction.isna().all() and al.quality_flags.str.contains("cell_part").all()
    lfp = wh.query("select weight_fraction from sxpd_phase_cells where phase = 'LFP'")
    assert (lfp.weight_fraction == 1.0).all()  # the only sample phase


def test_v_k_edge_in_the_same_campaign(warehouse) -> None:
    wh, _ = warehouse
    spectra = wh.query("select sample_id, element, edge from xas_spectra")
    assert set(zip(spectra.sample_id, spectra.element, spectra.edge)) == {("V-1", "V", "V_K")}
    assert len(wh.query("select * from xas_features where edge = 'V_K'")) >= 1


def test_every_null_of_the_phase_table_has_a_reason(warehouse) -> None:
    from schemas.sxpd import SXPD_PHASE_CELLS
    wh, _ = warehouse
    rows = wh.query("select * from sxpd_phase_cells_soc")
    assert set(rows["mode"]) == {"LFP", "Al"} and (rows["n_sample_phases"] == 1).all()
    numeric = [c.name for c in SXPD_PHASE_CELLS.columns if c.dtype == "float64"]
    has_null = rows[numeric].isna().any(axis=1)
    assert has_null.any()  # Al's weight fraction at least
    assert (rows.loc[has_null, "quality_flags"].str.len() > 0).all()
