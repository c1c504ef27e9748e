"""process / finalize with a hand-built context (in-memory DuckDB), alignment, and the demo generator."""
from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from foundation.config import load_campaign
from foundation.contract import (
    DemoRequest,
    FinalizeContext,
    MissingInformation,
    ProcessContext,
    Provenance,
)
from foundation.parameters import load_params
from foundation.registry import technique
from schemas.core import conform
from tasks.demo_world import BEAMTIME_START, OperandoProgram
from tasks.sxpd.alignment import align_patterns
from tasks.testing import assert_nulls_have_reasons

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = technique("sxpd")
SPECS = {s.name: s for s in PLUGIN.tables}
PARAMS = load_params(PLUGIN.default_params)
CAMPAIGN = load_campaign(ROOT / "socscope" / "demo_campaign.yaml")


def _query(frames: dict[str, pd.DataFrame]):
    def run(sql: str, params=None) -> pd.DataFrame:
        con = duckdb.connect(":memory:")
        for name, df in frames.items():
            con.register(name, df)
        return con.execute(sql, params).df()
    return run


def _read(path: Path):
    readers = {r.name: r for r in PLUGIN.readers}
    reader = readers["i11-nexus"] if path.suffix == ".nxs" else readers["i11-xye"]
    m = reader.read(path, {})
    m.provenance = Provenance(hashlib.sha256(path.read_bytes()).hexdigest(), reader.id, path.name)
    return m


def _stamp(df: pd.DataFrame, spec_name: str, sample_id: str | None, mid: str) -> pd.DataFrame:
    df = df.copy()
    defaults = {"campaign": "demo", "sample_id": sample_id, "technique": "sxpd", "mode": None, "measurement_id": mid,
                "raw_sha256": "0" * 64, "reader": "r@1", "params_id": PARAMS.id, "flow_run_id": None,
                "processed_at": pd.Timestamp("2026-01-01", tz="UTC")}
    for k, v in defaults.items():
        if k not in df:
            df[k] = v
    conform(SPECS[spec_name], df)  # the contract holds
    return df


@pytest.fixture(scope="module")
def demo_share(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sxpd_demo")
    PLUGIN.demo(DemoRequest(root / "share", root / "truth", "small", 5, CAMPAIGN))
    return root


def test_demo_is_deterministic_and_complete(demo_share: Path, tmp_path: Path) -> None:
    PLUGIN.demo(DemoRequest(tmp_path / "share", tmp_path / "truth", "small", 5, CAMPAIGN))
    files = sorted(p.relative_to(demo_share) for p in demo_share.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert files == again
    for rel in files:
        assert (demo_share / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    patterns = [p for p in (demo_share / "share/sxpd/O-1").iterdir() if p.suffix in (".xye", ".nxs")]
    assert len(patterns) >= 25 and {p.suffix for p in patterns} == {".xye", ".nxs"}
    assert len(list((demo_share / "share/sxpd/references").glob("*.xye"))) == 1
    truth = pd.read_csv(demo_share / "truth/sxpd/patterns_truth.csv")
    assert truth["soc_pct"].max() > 95 and set(truth["branch"]) >= {"charge", "discharge"}


def test_full_profile_sizes() -> None:
    from tasks.sxpd.demo import profile_sizes, two_theta_axis

    full = profile_sizes("full")
    assert full["n_patterns"] >= 300
    x = two_theta_axis(full["step_deg"])
    assert 55_000 <= len(x) <= 70_000 and x[-1] >= 65.0


def test_pattern_without_wavelength_is_quarantined(demo_share: Path) -> None:
    m = _read(sorted((demo_share / "share/sxpd/O-1").glob("*.xye"))[0])
    ctx = ProcessContext(CAMPAIGN, CAMPAIGN.sample("O-1"), PARAMS, {}, _query({}))
    with pytest.raises(MissingInformation, match="no wavelength"):
        PLUGIN.process(m, ctx)


def test_standard_then_patterns_through_process(demo_share: Path) -> None:
    std = _read(next((demo_share / "share/sxpd/references").glob("*.xye")))
    out = PLUGIN.process(std, ProcessContext(CAMPAIGN, None, PARAMS, {}, _query({})))
    assert_nulls_have_reasons(PLUGIN.tables, out)
    cal = _stamp(out["sxpd_calibrations"], "sxpd_calibrations", None, std.measurement_id)
    _stamp(out["sxpd_peaks"], "sxpd_peaks", None, std.measurement_id)
    assert abs(cal["wavelength_angstrom"].iloc[0] - 0.489951) < 2e-6
    # a decoy calibration of another beamtime, closer in time, must not be chosen
    decoy = cal.copy()
    decoy["calibration_id"], decoy["beamtime"], decoy["wavelength_angstrom"] = "decoy", "other-1", 0.5
    decoy["measured_at"] = pd.Timestamp(BEAMTIME_START)
    query = _query({"sxpd_calibrations": pd.concat([cal, decoy], ignore_index=True)})
    truth = pd.read_csv(demo_share / "truth/sxpd/patterns_truth.csv").set_index("scan_number")
    rows = []
    for path in sorted((demo_share / "share/sxpd/O-1").iterdir())[:6]:
        if path.suffix not in (".xye", ".nxs"):
            continue
        m = _read(path)
        frames = PLUGIN.process(m, ProcessContext(CAMPAIGN, CAMPAIGN.sample("O-1"), PARAMS, {}, query))
        assert_nulls_have_reasons(PLUGIN.tables, frames)  # unfitted peaks, underdetermined strain say why
        row = _stamp(frames["sxpd_patterns"], "sxpd_patterns", "O-1", m.measurement_id)
        _stamp(frames["sxpd_peaks"], "sxpd_peaks", "O-1", m.measurement_id)
        rows.append(row)
    patterns = pd.concat(rows, ignore_index=True)
    assert (patterns["calibration_id"] == cal["calibration_id"].iloc[0]).all()
    t = truth.loc[patterns["scan_number"]]
    assert np.all(np.abs(patterns["a_angstrom"].to_numpy() - t["a_angstrom"].to_numpy()) <= 0.0005)
    assert np.all(np.abs(patterns["c_angstrom"].to_numpy() - t["c_angstrom"].to_numpy()) <= 0.002)
    # the header times are beamline-local (BST in May): stored UTC equals the truth's mid-exposure time
    expected = pd.to_datetime(t["measured_at"], utc=True).to_numpy()
    assert (pd.to_datetime(patterns["measured_at"], utc=True).to_numpy() == expected).all()

    # configured wavelength wins over the calibration
    m = _read(next((demo_share / "share/sxpd/O-1").glob("*.xye")))
    settings_ctx = ProcessContext(CAMPAIGN, CAMPAIGN.sample("O-1"), PARAMS,
                                  {"wavelength_angstrom": 0.489951, "zero_offset_deg": 0.0042}, query)
    conf = PLUGIN.process(m, settings_ctx)["sxpd_patterns"]
    assert conf["wavelength_source"].iloc[0] == "configured" and conf["calibration_id"].isna().all()


def _series(program: OperandoProgram, shift_s: float = 0.0) -> pd.DataFrame:
    t = np.arange(0.0, program.total_s, 10.0)
    st = program.state(t)
    return pd.DataFrame({"cell_id": "half7", "time_s": t,
                         "timestamp": pd.Timestamp(BEAMTIME_START) + pd.to_timedelta(t + shift_s, unit="s"),
                         "current_a": st["current_a"], "voltage_v": st["voltage_v"],
                         "charge_ah": np.cumsum(st["current_a"]) * 10 / 3600, "soc_pct": st["soc_pct"]})


def test_alignment_interpolates_and_flags() -> None:
    program = OperandoProgram()
    t = np.array([300.0, 5000.0, 15000.0, 1e6])
    patterns = pd.DataFrame({"measurement_id": list("abcd"), "sample_id": "O-1",
                             "measured_at": pd.Timestamp(BEAMTIME_START) + pd.to_timedelta(t, unit="s")})
    out = align_patterns(patterns, _series(program), "half7", 0.0, 900.0)
    st = program.state(t[:3])
    np.testing.assert_allclose(out["soc_pct"].to_numpy()[:3], st["soc_pct"], atol=0.05)
    assert list(out["branch"][:3]) == ["rest", "charge", "discharge"]
    assert np.isnan(out["soc_pct"].iloc[3]) and "no cycler record within" in out["alignment_flag"].iloc[3]
    # the cycler clock runs 120 s behind the beamline: the offset puts the patterns back in place
    shifted = align_patterns(patterns[:3], _series(program, shift_s=-120.0), "half7", 120.0, 900.0)
    np.testing.assert_allclose(shifted["soc_pct"], st["soc_pct"], atol=0.05)
    empty = align_patterns(patterns, pd.DataFrame(), "half7", 0.0, 900.0)
    assert empty["soc_pct"].isna().all() and empty["alignment_flag"].str.contains("no cycler record").all()


def test_finalize_without_cycler_rows_leaves_nulls() -> None:
    patterns = pd.DataFrame({"measurement_id": ["m1"], "sample_id": ["O-1"], "raw_sha256": ["0" * 64],
                             "params_id": [PARAMS.id],
                             "measured_at": [pd.Timestamp(BEAMTIME_START) + pd.Timedelta(seconds=900)]})
    series = _series(OperandoProgram()).iloc[:0]
    ctx = FinalizeContext(CAMPAIGN, PARAMS, _query({"sxpd_patterns": patterns, "echem_series": series}))
    out = PLUGIN.finalize(ctx)["sxpd_alignment"]
    _stamp(out, "sxpd_alignment", None, "finalize:sxpd")
    assert out["voltage_v"].isna().all() and out["cell_id"].iloc[0] == "half7"
    assert "echem_series has no rows for cell half7" in out["alignment_flag"].iloc[0]


def test_finalize_places_phase_refined_patterns_on_the_cycle() -> None:
    """Patterns that only the multi-phase refinement wrote (sxpd_phase_cells, one row per phase) are aligned once."""
    program = OperandoProgram()
    t = np.array([1200.0, 6000.0])
    when = pd.Timestamp(BEAMTIME_START) + pd.to_timedelta(t, unit="s")
    cells = pd.DataFrame({"measurement_id": ["m1", "m1", "m2", "m2"], "sample_id": "O-1", "raw_sha256": "0" * 64,
                          "params_id": PARAMS.id, "measured_at": np.repeat(when, 2), "phase": ["A", "B"] * 2})
    ctx = FinalizeContext(CAMPAIGN, PARAMS, _query({"sxpd_phase_cells": cells, "echem_series": _series(program)}))
    out = PLUGIN.finalize(ctx)["sxpd_alignment"]
    assert list(out["measurement_id"]) == ["m1", "m2"]
    np.testing.assert_allclose(out["soc_pct"], program.state(t)["soc_pct"], atol=0.05)
