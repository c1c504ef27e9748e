"""The correction chain and features on real spectra, checked against hand computations."""
from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pytest

from foundation.parameters import load_params
from tasks.nexafs import chain
from tasks.nexafs.features import edge_features
from tasks.nexafs.plugin import TECHNIQUE
from tasks.nexafs.reduce import reduce_scans, reduce_spectra

PARAMS = load_params(TECHNIQUE.default_params).values
AU = "xas/soft_OK_edge_ausync/sxr129598.asc"


def au_columns(path):
    """Column numbers by PV name from the '# N [1-D ...] NAME, ...' lines, data by np.loadtxt."""
    text = path.read_text()
    cols = {m.group(2): int(m.group(1)) - 1 for m in re.finditer(r"^#\s+(\d+)\s+\[[^\]]+\]\s+([^,\s]+)", text, re.M)}
    data = np.loadtxt(path, comments="#")
    rate = {name: float(re.search(name + r' dark current average rat\w*, "([\d.]+)"', text).group(1))
            for name in ("DrainCurrentVF", "IzeroVF", "MCP")}
    return cols, data, rate


def hand_background(e, mu, cfg):
    """Pre-edge line + arctan step fitted by np.linalg.lstsq on the pre- and post-edge windows."""
    step = sum(w * (0.5 + np.arctan((e - c) / cfg["step_width_ev"]) / np.pi)
               for c, w in zip(cfg["steps_ev"], cfg["step_weights"]))
    post = (e >= cfg["post_edge"][0]) & (e <= cfg["post_edge"][1])
    step = step / step[post].mean()
    sel = ((e >= cfg["pre_edge"][0]) & (e <= cfg["pre_edge"][1])) | post
    a = np.column_stack([np.ones(sel.sum()), e[sel] - cfg["pre_edge"][0], step[sel]])
    coef = np.linalg.lstsq(a, mu[sel], rcond=None)[0]
    return coef[0] + coef[1] * (e - cfg["pre_edge"][0]), coef[2]


def test_real_o_k_scan_each_step_against_hand_computation(real):
    cols, data, rate = au_columns(real / AU)
    e = data[:, cols["SR14ID01PGM_CALC_ENERGY_MONITOR.P"]]
    dwell = np.median(data[:, cols["SR14ID01IOC68:scaler1.TP"]])
    tey, i0 = data[:, cols["SR14ID01IOC68:scaler1.S20"]], data[:, cols["SR14ID01IOC68:scaler1.S18"]]
    fy = data[:, cols["SR14ID01IOC68:scaler1.S22"]]
    cfg = PARAMS["edges"]["O_K"]
    report = {}
    for mode, sig, dark_rate in (("TEY", tey, rate["DrainCurrentVF"]), ("FY", fy, rate["MCP"])):
        # 1. dark: counts per point minus dark rate x dwell
        hand_dc = sig - dark_rate * dwell
        np.testing.assert_allclose(chain.subtract_dark(sig, dark_rate * dwell)[0], hand_dc)
        # 2. / I0 (I0 dark rate is 0 cps in this file)
        hand_mu = hand_dc / (i0 - rate["IzeroVF"] * dwell)
        np.testing.assert_allclose(chain.divide_by_i0(hand_dc, i0 - rate["IzeroVF"] * dwell)[0], hand_mu)
        # 3-4. the whole chain on the common grid, uncalibrated (no NiO at this beamline)
        red = reduce_scans(cfg, e, sig, i0, np.array([dark_rate * dwell]), np.array([rate["IzeroVF"] * dwell]),
                           np.zeros(1))
        grid = red["energy_ev"]
        # the chain regrids the dark-corrected channels, then divides (grid points fall between scan points)
        mu_grid = np.interp(grid, e, hand_dc) / np.interp(grid, e, i0 - rate["IzeroVF"] * dwell)
        np.testing.assert_allclose(red["mu_over_i0"][0], mu_grid, rtol=1e-12)
        line, step = hand_background(grid, mu_grid, cfg)
        np.testing.assert_allclose(red["pre_edge_line"][0], line, rtol=1e-8, atol=1e-12)
        assert red["edge_step"][0] == pytest.approx(step, rel=1e-8)
        np.testing.assert_allclose(red["mu_normalised"][0], (mu_grid - line) / step, rtol=1e-8, atol=1e-10)
        report[mode] = (step, red)
    tey_step, red = report["TEY"]
    fy_step, _ = report["FY"]
    norm = red["mu_normalised"][0]
    first = (grid >= 528) & (grid <= 540)
    peak = grid[first][np.argmax(norm[first])]
    print(f"\nreal O K scan sxr129598: TEY edge step {tey_step:.4g} (TEY/I0), FY (MCP TFY) edge step "
          f"{fy_step:.3g} — the FY channel carries 0-3 counts below its dark level; first peak of the "
          f"normalised TEY at {peak:.2f} eV")
    pre_level = float(np.interp(528.0, grid, red["pre_edge_line"][0]))
    assert tey_step > 0.3 * pre_level  # a clear O K edge in electron yield (jump ~ half the background)
    assert abs(fy_step) < 0.01 * tey_step  # no fluorescence signal in this file
    assert 530 < peak < 540
    # the reader drops the dead FY channel with its reason rather than producing a flat spectrum
    from tasks.nexafs.ascii_scan import read_ausync

    ms = read_ausync((real / AU).read_text(), AU)
    assert "FY" not in {m.mode for m in ms} and "dark level" in ms[0].meta["dropped_channels"]["FY"]


def _start_time(path):
    m = re.search(r"#Time at start=(.+)", path.read_text())
    return datetime.fromisoformat(m.group(1).strip())


def test_operando_lini_o2_half_step_rises_with_charge_time(real):
    from tasks.nexafs.two_column import ProcessedSpectrumReader

    files = sorted((real / "xas/LiNiO2_operando_NiK").glob("norm_*.txt"), key=_start_time)
    cfg = PARAMS["edges"]["Ni_K"]
    half = []
    for f in files:
        m = ProcessedSpectrumReader().read(f, {})
        red = reduce_spectra(cfg, m.data["energy_ev"], m.data["mu"], np.zeros(1))
        feats = edge_features("Ni_K", red["energy_ev"], red, cfg, PARAMS["features"])
        half.append(float(feats["k_half_step_ev"][0]))
    print("\nLiNiO2 Ni K half-step energies by charge time:", [round(h, 2) for h in half])
    assert np.all(np.diff(half) > 0)
    # independent check on the given normalised column: first crossing of 0.5 by np.interp
    e, mu = np.loadtxt(files[-1], comments="#", usecols=(0, 1)).T
    i = np.argmax(mu >= 0.5)
    hand = np.interp(0.5, mu[i - 1:i + 1], e[i - 1:i + 1])
    assert half[-1] == pytest.approx(hand, abs=0.5)


def test_ni_foil_first_inflection_near_8333(real):
    from tasks.nexafs.xdi import XdiReader

    m = XdiReader().read(real / "xas/NiK_references/ni_metal_rt.xdi", {})
    cfg = PARAMS["edges"]["Ni_K"]
    red = reduce_spectra(cfg, m.data["energy_ev"], m.data["mu"], np.zeros(1))
    feats = edge_features("Ni_K", red["energy_ev"], red, cfg, PARAMS["features"])
    e0 = float(feats["k_first_inflection_ev"][0])
    print(f"\nNi foil first inflection {e0:.2f} eV (tabulated Ni K edge 8333 eV)")
    assert abs(e0 - 8333.0) <= 2.0


def test_self_absorption_round_trip_and_vectorised_interp():
    x = np.abs(np.sin(np.linspace(0, 6, 200))) * 3
    for r in (0.5, 1.27, 4.7):
        np.testing.assert_allclose(chain.self_absorption_correct(chain.self_absorb(x, r), r)[0], x, rtol=1e-12)
    rng = np.random.default_rng(0)
    xs = np.sort(rng.uniform(0, 10, (5, 40)), axis=1)
    ys = rng.normal(size=(5, 40))
    q = np.linspace(1, 9, 33)
    got = chain.interp_rows(xs, ys, q[None, :])
    for k in range(5):
        expect = np.where((q < xs[k, 0]) | (q > xs[k, -1]), np.nan, np.interp(q, xs[k], ys[k]))
        np.testing.assert_allclose(got[k], expect)


def test_linear_combination_recovers_known_fraction():
    e = np.linspace(850, 860, 101)
    a, b = np.exp(-((e - 853) / 0.5) ** 2), np.exp(-((e - 855) / 0.6) ** 2)
    y = np.vstack([0.3 * a + 0.7 * b, 0.8 * a + 0.2 * b])
    frac, sigma = chain.fraction_of_first(chain.linear_combination_fit(e, y, np.vstack([a, b]), (850, 860)))
    np.testing.assert_allclose(frac, [0.3, 0.8], atol=1e-10)
    assert np.all(sigma < 1e-6)


@pytest.mark.parametrize("name", [AU, "xas/NiK_references/ni_metal_rt.xdi",
                                  "xas/LiNiO2_operando_NiK/norm_op2_cell4_pos1_dq1_0030_av240_00001.txt"])
def test_real_files_process_into_valid_tables(real, name):
    """process() on real files with an empty warehouse; every frame passes its pandera contract."""
    from datetime import datetime, timezone

    import pandas as pd

    from foundation.contract import ProcessContext
    from foundation.parameters import load_params
    from foundation.registry import read_measurements
    from schemas.core import conform
    from tasks.testing import sha256_of

    def no_warehouse(sql, params=None):
        raise RuntimeError("no tables yet")

    path = real / name
    _, ms = read_measurements(path, sha256_of(path), path.name, technique_name="nexafs")
    ctx = ProcessContext(campaign=None, sample=None, params=load_params(TECHNIQUE.default_params), options={},
                         query=no_warehouse)
    specs = {t.name: t for t in TECHNIQUE.tables}
    for m in ms:
        out = TECHNIQUE.process(m, ctx)
        assert out["xas_spectra"].role.iloc[0] == "reference"
        for table, df in out.items():
            df = df.assign(campaign="c", sample_id=None, technique="nexafs", mode=m.mode,
                           measurement_id=m.measurement_id, raw_sha256=m.provenance.raw_sha256,
                           reader=m.provenance.reader, params_id="p", flow_run_id=None,
                           processed_at=pd.Timestamp(datetime(2026, 1, 1, tzinfo=timezone.utc)))
            conform(specs[table], df)
        if name == AU:
            assert out["xas_spectra"].calibration_source.iloc[0] == "none"
            assert "dropped_fy" in out["xas_spectra"].quality_flags.iloc[0]
