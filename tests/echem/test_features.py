"""Pure functions on hand-built inputs: diffusion formulas, SOC reset, clock jumps, cycles, GITT synthetic."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.echem import canonical, cycles, diffusion, gitt, soc


def test_weppner_huggins_hand_calculation():
    m, vm, mb, s, tau = 0.01, 2.06e-5, 96.93, 1e-3, 600.0
    d = diffusion.d_from_ratio(tau, 0.02, 0.04, active_mass_g=m, molar_volume_m3_mol=vm, molar_mass_g_mol=mb, area_m2=s)
    assert d == pytest.approx(4 / (math.pi * tau) * (m * vm / (mb * s)) ** 2 * 0.25)
    # the slope form equals the ratio form when E rises linearly in √t: slope = ΔEt/√τ
    d2 = diffusion.d_from_sqrt_slope(tau, 0.02, 0.04 / math.sqrt(tau), active_mass_g=m, molar_volume_m3_mol=vm,
                                     molar_mass_g_mol=mb, area_m2=s)
    assert d2 == pytest.approx(d)
    # particle basis: m V_M/(M S) = r/3
    area = diffusion.particle_area_m2(m, vm, mb, 5e-6)
    assert m * vm / (mb * area) == pytest.approx(5e-6 / 3)


def test_soc_resets_at_lower_cutoff():
    # charge 1 mAh, discharge to cut-off (0.9 mAh back: first-cycle loss), then charge 0.5 mAh
    q = np.array([0, 0.5, 1.0, 0.6, 0.1, 0.1, 0.35, 0.6]) * 1e-3
    v = np.array([3.5, 3.9, 4.2, 3.8, 3.0, 3.05, 3.7, 3.8])
    i = np.array([0, 1, 1, -1, -1, 0, 1, 1]) * 1e-3
    pct = soc.soc_pct(q, v, i, active_mass_mg=10, nominal_mah_g=100, lower_cutoff_v=3.0)
    np.testing.assert_allclose(pct, [0, 50, 100, 60, 0, 0, 25, 50])


def test_clock_jump_removed_and_flagged():
    stamps = pd.Series(pd.to_datetime(["2024-01-01 00:00:00", "2024-01-01 00:00:10", "2024-01-01 00:00:20",
                                       "2024-01-01 00:00:05", "2024-01-01 00:00:15"], utc=True))
    m = canonical.build(reader_label="t", time_s=None, timestamps=stamps, current_a=np.ones(5) * 1e-3,
                        voltage_v=np.full(5, 3.7))
    np.testing.assert_allclose(m.data["time_s"], [0, 10, 20, 30, 40])
    assert m.data["clock_jump"].tolist() == [False, False, False, True, False]
    assert m.data["timestamp"].is_monotonic_increasing
    # 1 mA for 40 s
    assert m.data["charge_ah"].iloc[-1] == pytest.approx(1e-3 * 40 / 3600)


def test_empty_file_rejected():
    from foundation.contract import UnreadableFile

    with pytest.raises(UnreadableFile, match="no data records"):
        canonical.build(reader_label="x", time_s=np.array([]), current_a=np.array([]), voltage_v=np.array([]))


def test_cycles_capacity_and_efficiency():
    t = np.arange(0, 8) * 3600.0
    i = np.array([1, 1, -1, -1, 1, 1, -0.9, -0.9]) * 1e-3
    frame = pd.DataFrame({"time_s": t, "current_a": i, "voltage_v": np.linspace(3.5, 4.0, 8),
                          "cycle": [1, 1, 1, 1, 2, 2, 2, 2]})
    frame["charge_ah"] = canonical.integrate_charge_ah(t, i)
    out = cycles.per_cycle(frame, active_mass_mg=10.0)
    # hand: trapezoids of 1 h each; cycle 1 holds intervals 0-1 (+1), 1-2 (0), 2-3 (-1); 3-4 is (-1+1)/2 = 0
    assert out["charge_capacity_ah"].iloc[0] == pytest.approx(1e-3)
    assert out["discharge_capacity_ah"].iloc[0] == pytest.approx(1e-3)
    assert out["charge_capacity_mah_g"].iloc[0] == pytest.approx(100.0)
    assert out["coulombic_efficiency"].iloc[1] == pytest.approx(0.9 / 1.05, rel=0.1)


def _synthetic_gitt(d_true: float, r_um: float = 5.0, tau: float = 600.0, rest: float = 3600.0, n: int = 6):
    """A textbook GITT record: IR step, ΔEt ∝ √t, exponential relaxation to E0 + ΔEs."""
    r = r_um * 1e-6
    des = 0.02
    det = des / (math.sqrt(d_true * math.pi * tau / 4) / (r / 3))  # invert the ratio form on a particle basis
    rows = []
    t0, e0 = 0.0, 3.7
    rows.append((0.0, 0.0, e0))
    t0 = rest
    rows.append((t0 - 1, 0.0, e0))
    for _ in range(n):
        ts = np.arange(1.0, tau + 1e-9, 10.0)
        for x in ts:
            rows.append((t0 + x, 1e-3, e0 + 0.01 + det * math.sqrt(x / tau)))
        rs = np.arange(1.0, rest + 1e-9, 20.0)
        for x in rs:
            rows.append((t0 + tau + x, 0.0, e0 + des + (det + 0.01 - des) * math.exp(-x / 200.0)))
        t0 += tau + rest
        e0 += des
    frame = pd.DataFrame(rows, columns=["time_s", "current_a", "voltage_v"])
    frame["condition"] = canonical.condition_from_current(frame["current_a"].to_numpy())
    return frame, det


def test_gitt_recovers_known_d_on_synthetic_record():
    frame, det = _synthetic_gitt(1.5e-15)
    out = gitt.analyse(frame, gitt.GittSettings(), active_mass_mg=8.0)
    assert len(out) == 6
    np.testing.assert_allclose(out["delta_es_v"], 0.02, atol=1e-4)
    np.testing.assert_allclose(out["ir_drop_v"], 0.01, atol=1e-3)
    np.testing.assert_allclose(out["d_m2_s"], 1.5e-15, rtol=0.05)
    np.testing.assert_allclose(out["d_sqrt_t_m2_s"], 1.5e-15, rtol=0.05)
    assert out["relaxed"].all() and (out["sqrt_t_r2"] > 0.999).all()
