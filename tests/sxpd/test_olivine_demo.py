"""The olivine demo campaign (socscope demo --campaign olivine): files, truth, intensities, scoring.

Expected values come from outside our code: Bragg's law on the published cells, xraydb's atomic form
factors (a second library beside gemmi), the cycler file's own charge column, and hand-built score inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foundation.registry import read_measurements
from tasks.sxpd import olivine_score
from tasks.sxpd.olivine_demo import DELITHIATED, LITHIATED
from tasks.sxpd.powder_gemmi import declared_phases, reflections

LAMBDA, ZERO = 0.489951, 0.0042  # the demo beamline (tasks/sxpd/synthesis.py), as the Si standard says


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from socscope.demo import write_demo

    root = tmp_path_factory.mktemp("olivine")
    return root, write_demo(root, "small", campaign_name="olivine")


def test_campaign_declares_phases_from_cifs_and_cell_parts(demo) -> None:
    root, campaign = demo
    phases = campaign.settings["sxpd"]["phases"]
    assert [p["role"] for p in phases].count("main") == 1
    for p in phases:
        assert ("cif" in p) != ("space_group" in p)
        if "cif" in p:
            text = (root / p["cif"]).read_text()
            assert "Pnma" in text.replace(" ", "") or "P n m a" in text
            assert "Streltsov" in text or "Andersson" in text  # the source is cited
    assert {s.technique for s in campaign.shares} == {"echem", "sxpd"}
    assert not (root / "share" / "afm").exists()


def test_patterns_carry_no_time_and_the_scan_log_has_every_one(demo) -> None:
    root, _ = demo
    patterns = sorted((root / "share/sxpd/L-1").glob("*.xye"))
    truth = pd.read_csv(root / "truth/sxpd/olivine_truth.csv")
    assert len(patterns) == len(truth) == 16
    for p in patterns:
        head = p.read_bytes()[:400].decode()
        assert "time" not in head.lower()
    log = root / "share/sxpd/L-1/i11_scanlog.csv"
    _, ms = read_measurements(log, "0" * 64, log.name, technique_name="sxpd")
    rows = ms[0].data
    assert set(rows["file_name"]) >= {p.name for p in patterns}
    assert len(rows) == len(patterns) + 1  # + the Si standard


def _peak_near(x: np.ndarray, y: np.ndarray, where: float, half: float = 0.03) -> float:
    sel = (x > where - half) & (x < where + half)
    return float(x[sel][np.argmax(y[sel])])


def test_reflections_sit_where_bragg_puts_the_published_cells(demo) -> None:
    """(020) of each phase: 2θ = 2 asin(λ / (2 d)), d = b/2, plus the zero offset of the beamline."""
    root, _ = demo
    truth = pd.read_csv(root / "truth/sxpd/olivine_truth.csv")
    first = np.loadtxt(root / "share/sxpd" / truth["file"].iloc[0])  # x = 0: LiFePO4 only
    fp_rich = truth.iloc[int(truth["x_fepo4"].idxmax())]
    last = np.loadtxt(root / "share/sxpd" / fp_rich["file"])
    for data, b in ((first, 6.010), (last, fp_rich[f"{DELITHIATED}_b_angstrom"])):
        expected = np.degrees(2 * np.arcsin(LAMBDA / b)) + ZERO
        assert abs(_peak_near(data[:, 0], data[:, 1], expected) - expected) < 0.004


def test_gemmi_structure_factor_matches_xraydb_form_factor(demo) -> None:
    """Al (111), fcc: F = 4 f_Al(sinθ/λ) exp(-B s²); multiplicity 8. xraydb's f0 is a second library."""
    import xraydb

    root, campaign = demo
    al = next(p for p in declared_phases(campaign.settings["sxpd"], root) if p.name == "Al")
    d, f2, hkl = reflections(al, 2.0)
    i = int(np.argmax(d))
    assert sorted(hkl[i]) == [1, 1, 1]
    s = 1 / (2 * d[i])
    f = 4 * xraydb.f0("Al", s)[0] * np.exp(-0.8 * s * s)
    assert f2[i] == pytest.approx(8 * f * f, rel=0.01)
    assert al.cell_mass_u == pytest.approx(4 * 26.9815, rel=1e-4)


def test_fepo4_fraction_follows_the_charge_in_the_cycler_file(demo) -> None:
    root, campaign = demo
    mpt = root / "share/echem/lfp1/lfp1_operando_C01.mpt"
    _, ms = read_measurements(mpt, "0" * 64, mpt.name, technique_name="echem")
    rec = ms[0].data
    text = mpt.read_text(encoding="latin-1").splitlines()
    n_header = int(text[1].split(":")[1])
    table = pd.read_csv(mpt, sep="\t", skiprows=n_header - 1, encoding="latin-1")
    start = pd.Timestamp("2026-06-15T07:30:00", tz="UTC")  # "Acquisition started on" of the file
    truth = pd.read_csv(root / "truth/sxpd/olivine_truth.csv")
    t = (pd.to_datetime(truth["measured_at"], utc=True, format="ISO8601") - start).dt.total_seconds()
    q_mah = np.interp(t, table["time/s"], table["(Q-Qo)/mA.h"])
    capacity_mah = campaign.cell("lfp1").active_mass_mg * 1e-3 * campaign.cell("lfp1").nominal_capacity_mah_g
    assert np.abs(q_mah / capacity_mah - truth["x_fepo4"]).max() < 0.01
    assert len(rec) > 100
    # weight fraction from mole fraction with the formula masses (hand values, g/mol)
    x = truth["x_fepo4"]
    w = x * 150.815 / (x * 150.815 + (1 - x) * 157.756)
    assert np.abs(w - truth["fepo4_weight_fraction"]).max() < 1e-4


def _cells_from(truth: pd.DataFrame) -> pd.DataFrame:
    """A perfect sxpd_phase_cells table built from the truth by hand."""
    rows = []
    for _, t in truth.iterrows():
        for phase, share in ((LITHIATED, 1 - t["fepo4_weight_fraction"]), (DELITHIATED, t["fepo4_weight_fraction"])):
            present = share > 0
            rows.append({"original_name": t["file"].split("/")[-1], "phase": phase, "role": "main",
                         "measured_at": pd.Timestamp(t["measured_at"]),
                         **{f"{k}_angstrom": t[f"{phase}_{k}_angstrom"] if present else np.nan for k in "abc"},
                         "weight_fraction": share * 0.9,  # normalised with cell parts: the score renormalises
                         "quality_flags": "" if present else "phase_not_observed", "soc_pct": t["soc_pct"] + 0.3})
    return pd.DataFrame(rows)


def test_score_passes_on_the_truth_and_fails_on_each_defect(demo) -> None:
    root, _ = demo
    truth = pd.read_csv(root / "truth/sxpd/olivine_truth.csv")
    perfect = _cells_from(truth)
    rows = olivine_score.score(perfect, truth)
    assert (rows["verdict"] == "pass").all(), rows
    assert len(rows) == 1 + 6 + 2 + 2

    def verdict(cells, name):
        return olivine_score.score(cells, truth).set_index("check_name").loc[name, "verdict"]

    off = perfect.copy()
    off.loc[off["phase"] == DELITHIATED, "c_angstrom"] += 0.0015
    assert verdict(off, "FePO4_c_within_0.001_angstrom") == "fail"
    off = perfect.copy()
    off.loc[off["phase"] == DELITHIATED, "weight_fraction"] += 0.05
    assert verdict(off, "fepo4_fraction_within_0.03") == "fail"
    off = perfect.assign(quality_flags="")
    assert verdict(off, "absent_phase_null_and_flagged") == "fail"
    off = perfect.assign(measured_at=perfect["measured_at"] + pd.Timedelta(seconds=10))
    assert verdict(off, "pattern_times_from_scan_log") == "fail"
    assert verdict(perfect.iloc[2:], "every_pattern_refined") == "fail"
    assert verdict(perfect.assign(soc_pct=perfect["soc_pct"] + 2.0), "soc_from_cycler") == "fail"


def test_cli_writes_the_olivine_campaign_and_refuses_unknown_ones(tmp_path) -> None:
    from socscope.cli import main

    with pytest.raises(SystemExit):
        main(["demo", "--campaign", "nacl", "--dir", str(tmp_path / "x"), "--no-run"])
    assert main(["demo", "--campaign", "olivine", "--dir", str(tmp_path / "o"), "--no-run"]) == 0
    assert (tmp_path / "o/config/FePO4.cif").exists() and (tmp_path / "o/share/sxpd/L-1/i11_scanlog.csv").exists()
    assert "olivine-demo" in (tmp_path / "o/campaign.yaml").read_text()
