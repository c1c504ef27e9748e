"""Demo cycler files for every cell of the demo campaign, with ground truth (SCIENCE.md, demo campaign).

- coin1..coin5: Toyo TOSCAT channel folders (formation at 0.1 C, cycles at 0.2 C, then 0.3 C to the
  harvest point), 3.0-4.2 V, 150 mAh/g.
- half1..half6: BioLogic .mpt exports of the first charge (and discharge) at 0.05 C, 180 mAh/g,
  stopping at the sample's harvest point.
- half7 (and lfp1 of the olivine campaign): the operando first cycle, exactly ``demo_world.OPERANDO_PROGRAMS[cell]``.
- half8: a GITT run whose D(SOC) follows ``demo_world.target('d_m2_s', soc)`` on a 5 um particle basis,
  with sampling jitter, an IR drop and a few rests cut short before they relax.

Every file is a pure function of the seed (no wall clock); truth goes to ``truth_root/echem``.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from foundation.contract import DemoRequest
from tasks.demo_world import (
    MISLABELLED_SOC_PCT,
    OPERANDO_PROGRAMS,
    ocv_v,
    target,
)

COIN_OFFSET_V = -0.07  # graphite anode vs Li
R_COIN_OHM, R_HALF_OHM = 10.0, 30.0
ETA_V = 0.02
RELAX_S = 300.0
NOISE_V = 0.0002
CYCLING_START = datetime(2026, 4, 1, 9, 0, 0, tzinfo=timezone.utc)
GITT_START = datetime(2026, 4, 20, 9, 0, 0, tzinfo=timezone.utc)
PARTICLE_RADIUS_M = 5e-6  # the default GITT area basis in params/default.yaml


@dataclass
class Step:
    """A constant-current (or rest) step: voltage-state s runs linearly from s0 to s1."""

    current_a: float
    duration_s: float
    s0: float
    s1: float
    to_cutoff: bool = False  # last record sits exactly on the lower cut-off


@dataclass
class Cell:
    capacity_ah: float
    lower_v: float
    upper_v: float
    offset_v: float
    r_ohm: float
    steps: list[Step] = field(default_factory=list)
    counted: float = 0.0  # coulomb-counted SOC fraction since the last reset (what the platform measures)
    s: float = 0.0  # voltage state (lithium removed, fraction of the reversible capacity)

    def rest(self, seconds: float) -> None:
        self.steps.append(Step(0.0, seconds, self.s, self.s))

    def move(self, c_rate: float, fraction: float, s_end: float, to_cutoff: bool = False) -> None:
        """Pass ``fraction`` of the nominal capacity at ``c_rate`` (sign = direction)."""
        current = math.copysign(c_rate * self.capacity_ah, fraction)
        self.steps.append(Step(current, abs(fraction) / c_rate * 3600.0, self.s, s_end, to_cutoff))
        self.counted = 0.0 if to_cutoff else self.counted + fraction
        self.s = s_end


def records(cell: Cell, dt_s: float, rng: np.random.Generator, jitter: float = 0.0) -> pd.DataFrame:
    """Sampled records of all steps; a record at each step's start and end (cyclers log both)."""
    out = []
    t_start, v_prev = 0.0, None
    for k, st in enumerate(cell.steps):
        n = max(int(st.duration_s // dt_s), 1)
        rel = np.arange(n + 1) * dt_s
        if jitter:
            rel[1:-1] += rng.uniform(-jitter, jitter, n - 1) * dt_s
        rel[-1] = st.duration_s
        rel = np.sort(np.clip(rel, 0, st.duration_s))
        s = st.s0 + (st.s1 - st.s0) * rel / st.duration_s
        ocv = ocv_v(s) + cell.offset_v
        if st.current_a == 0:
            start_v = ocv[0] if v_prev is None else v_prev  # relax from where the previous step ended
            v = ocv + (start_v - ocv[0]) * np.exp(-rel / RELAX_S)
        else:
            sign = np.sign(st.current_a)
            v = ocv + st.current_a * cell.r_ohm + sign * ETA_V
            if st.to_cutoff:
                v = np.maximum(v, cell.lower_v + 0.02)
                v[-1] = cell.lower_v
        v = np.clip(v + rng.normal(0, NOISE_V, v.size), 0.0, cell.upper_v)
        if st.to_cutoff:
            v[-1] = cell.lower_v
        v_prev = v[-1] - st.current_a * cell.r_ohm  # the IR step vanishes at once, the overpotential relaxes
        out.append(pd.DataFrame({"time_s": t_start + rel, "current_a": st.current_a, "voltage_v": v, "step": k + 1}))
        t_start += st.duration_s
    return pd.concat(out, ignore_index=True)


# --- programs -----------------------------------------------------------------------------------

def coin_program(sample_branch: str, nominal: float, n_cycles: int, rng) -> Cell:
    cap = 20.26e-3 * 150e-3
    c = Cell(capacity_ah=cap, lower_v=3.0, upper_v=4.2, offset_v=COIN_OFFSET_V, r_ohm=R_COIN_OHM)
    c.rest(3600)
    c.move(0.1, 1.11, 1.0)  # formation: 11 % of the first charge goes into the interphase
    c.rest(1800)
    c.move(0.1, -1.0, 0.0, to_cutoff=True)
    c.rest(1800)
    if sample_branch == "formation":
        return c
    for _ in range(n_cycles):
        c.move(0.2, 1.0, 1.0)
        c.rest(1800)
        c.move(0.2, -1.0, 0.0, to_cutoff=True)
        c.rest(1800)
    stop = nominal / 100 + rng.uniform(-0.005, 0.005)
    if sample_branch == "charge":
        c.move(0.3, stop, stop)
    else:
        c.move(0.3, 1.0, 1.0)
        c.rest(1800)
        if nominal == 0:
            c.move(0.3, -1.0, 0.0, to_cutoff=True)
        else:
            c.move(0.3, -(1.0 - stop), stop)
    c.rest(1800)
    return c


def half_program(branch: str, nominal: float, rng) -> Cell:
    cap = 8.0e-3 * 180e-3
    c = Cell(capacity_ah=cap, lower_v=3.0, upper_v=4.3, offset_v=0.0, r_ohm=R_HALF_OHM)
    c.rest(1800)
    stop = nominal / 100 + rng.uniform(-0.005, 0.005)
    if branch == "charge":
        c.move(0.05, stop, stop)
    else:
        c.move(0.05, 1.0, 1.0)
        c.rest(1800)
        if nominal == 0:  # first discharge returns 90 %: the cut-off comes at counted 10 %
            c.move(0.05, -0.9, 0.0, to_cutoff=True)
        else:
            c.move(0.05, -(1.0 - stop), (stop - 0.1) / 0.9)  # 10 % of the first charge is not returned
    c.rest(1800)
    return c


# --- file writers -------------------------------------------------------------------------------

def write_toyo(folder: Path, rec: pd.DataFrame, start: datetime, cycles: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    log = ["Date,Time,Condition,Mode,Cycle,TotlCycle,Cap[mAh],PassTime[Sec],MeanVolt[V]"]
    t_int = np.round(rec["time_s"].to_numpy()).astype("int64")  # TOSCAT logs whole seconds
    for step, grp in rec.groupby("step", sort=True):
        idx = grp.index.to_numpy()
        t = t_int[idx]
        wall = [start + timedelta(seconds=int(x)) for x in t]
        i = grp["current_a"].to_numpy()
        cond = 0 if i[0] == 0 else (1 if i[0] > 0 else 2)
        cyc = int(cycles[idx[0]])
        body = io.StringIO()
        body.write(f"TOSCAT-3000 data file\r\nStep,{step}\r\n\r\n")
        body.write("Date,Time,PassTime[Sec],Voltage[V],Current[mA],Temp1[deg],Condition,Mode,Cycle,TotlCycle\r\n")
        for w, pt, v, cur in zip(wall, t - t[0], grp["voltage_v"].to_numpy(), np.abs(i) * 1e3):
            body.write(f"{w:%Y/%m/%d},{w:%H:%M:%S},{pt},{v:.4f},{cur:.4f},25.0,{cond},1,{cyc},{cyc}\r\n")
        (folder / f"{int(step):06d}").write_bytes(body.getvalue().encode("cp932"))
        cap_mah = abs(i[0]) * (t[-1] - t[0]) / 3.6
        log.append(f"{wall[0]:%Y/%m/%d},{wall[0]:%H:%M:%S},{cond},1,{cyc},{cyc},{cap_mah:.4f},{t[-1] - t[0]},"
                   f"{grp['voltage_v'].mean():.4f}")
    (folder / "CAPACITY.LOG").write_bytes(("\r\n".join(log) + "\r\n").encode("cp932"))


MPT_COLUMNS = ["mode", "ox/red", "error", "Ns", "time/s", "control/V/mA", "Ewe/V", "I/mA", "(Q-Qo)/mA.h",
               "cycle number"]


def write_mpt(path: Path, rec: pd.DataFrame, start: datetime, technique: str, mass_mg: float,
              material: str = "NCM622") -> None:
    """An EC-Lab ASCII export: 'Nb header lines' counts every header line including the column row."""
    t = rec["time_s"].to_numpy()
    i_ma = rec["current_a"].to_numpy() * 1e3
    q = np.concatenate([[0.0], np.cumsum(0.5 * (i_ma[1:] + i_ma[:-1]) * np.diff(t) / 3600.0)])
    header = [
        "EC-Lab ASCII FILE",
        "Nb header lines : {n}",
        "",
        technique,
        "",
        "Run on channel : 3 (SN 1234)",
        "User : demo",
        f"Acquisition started on : {start:%m/%d/%Y %H:%M:%S}.000",
        f"Electrode material : {material}",
        "Electrolyte : LP57",
        f"Mass of active material : {mass_mg:.3f} mg",
        "Cycle Definition : Charge/Discharge alternance",
        "\t".join(MPT_COLUMNS),
    ]
    text = "\n".join(header).replace("{n}", str(len(header))) + "\n"
    mode = np.where(i_ma == 0, 3, 1)
    data = np.column_stack([mode, (i_ma > 0).astype(int), np.zeros_like(mode), rec["step"].to_numpy() - 1, t,
                            i_ma, rec["voltage_v"].to_numpy(), i_ma, q, np.zeros_like(mode)])
    buf = io.StringIO()
    np.savetxt(buf, data, delimiter="\t", fmt=["%d", "%d", "%d", "%d", "%.4f", "%.6f", "%.7f", "%.7e", "%.7e", "%d"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((text + buf.getvalue()).encode("latin-1"))


# --- GITT ---------------------------------------------------------------------------------------

def gitt_records(small: bool, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Charge then discharge pulses of an NCM622 half cell; voltage per Weppner–Huggins on 5 um spheres."""
    cap = 8.0e-3 * 180e-3
    step_frac = 0.05 if small else 0.02
    c_rate = 0.2
    tau = step_frac / c_rate * 3600.0
    rest = 3600.0 if small else 5400.0
    dt_pulse, dt_rest = (30.0, 120.0) if small else (10.0, 30.0)
    current = c_rate * cap
    n_charge = int(round(1.0 / step_frac))
    n_dis = int(round(0.9 / step_frac))
    directions = [1] * n_charge + [-1] * n_dis
    unrelaxed = set(rng.choice(np.arange(2, len(directions) - 1), size=3, replace=False).tolist())
    rows, truth = [], []
    t, soc, e_rest = 0.0, 0.0, ocv_v(0.0)

    def add(times, cur, volts, step):
        rows.append(pd.DataFrame({"time_s": times, "current_a": cur, "voltage_v": volts, "step": step}))

    first = np.arange(0.0, 1800.0 + 1e-9, dt_rest)
    add(first, 0.0, np.full(first.size, e_rest), 1)
    t = 1800.0
    for k, sign in enumerate(directions):
        soc_after = soc + sign * step_frac
        soc_mid = 0.5 * (soc + soc_after)
        d_true = float(target("d_m2_s", soc_mid * 100))
        des = float(ocv_v(soc_after) - ocv_v(soc))
        det = des * (PARTICLE_RADIUS_M / 3) / math.sqrt(d_true * math.pi * tau / 4)
        ir = sign * current * R_HALF_OHM
        rel = np.arange(0.0, tau, dt_pulse)
        rel[1:] += rng.uniform(-0.3, 0.3, rel.size - 1) * dt_pulse
        rel = np.r_[np.sort(rel), tau]
        e0 = e_rest
        v = e0 + ir + det * np.sqrt(rel / tau)
        add(t + rel, sign * current, v + rng.normal(0, NOISE_V, rel.size), 2 * k + 2)
        t += tau
        short = k in unrelaxed
        rest_k, relax_k = (rest / 4, rest / 2.5) if short else (rest, RELAX_S)
        rr = np.arange(0.0, rest_k, dt_rest)
        rr[1:] += rng.uniform(-0.3, 0.3, rr.size - 1) * dt_rest
        rr = np.r_[np.sort(rr), rest_k]
        target_v = ocv_v(soc_after)
        vr = target_v + (e0 + det - target_v) * np.exp(-rr / relax_k)
        add(t + rr, 0.0, vr + rng.normal(0, NOISE_V, rr.size), 2 * k + 3)
        t += rest_k
        truth.append({"pulse_index": k, "direction": "charge" if sign > 0 else "discharge",
                      "soc_start_pct": soc * 100, "soc_end_pct": soc_after * 100, "soc_mid_pct": soc_mid * 100,
                      "d_true_m2_s": d_true, "tau_s": tau, "ir_drop_true_v": ir, "delta_es_true_v": des,
                      "delta_et_true_v": det, "rest_s": rest_k, "relaxed_true": not short})
        e_rest = vr[-1]
        soc = soc_after
    return pd.concat(rows, ignore_index=True), pd.DataFrame(truth)


# --- entry point --------------------------------------------------------------------------------

def demo(req: DemoRequest) -> None:
    small = req.profile == "small"
    rng = np.random.default_rng(req.seed + 3)  # one stream per technique: +3 = echem
    share = req.share_root / "echem"
    truth_dir = req.truth_root / "echem"
    truth_dir.mkdir(parents=True, exist_ok=True)
    soc_truth = []
    for sample in req.campaign.samples:
        if sample.cell is None:
            continue
        cell_cfg = req.campaign.cell(sample.cell)
        cid = sample.cell
        if cell_cfg.kind == "coin":
            branch = "formation" if sample.description == "end of formation" else sample.branch
            if MISLABELLED_SOC_PCT.get(sample.id) == 0.0:  # never charged after formation, whatever the label
                branch = "formation"
            cell = coin_program(branch, sample.soc_nominal_pct or 0.0, 1 if small else 3, rng)
            rec = records(cell, 600.0 if small else 30.0, rng)
            cycles = np.cumsum(np.r_[0, np.diff((rec["current_a"] > 0).astype(int)) > 0])  # +1 per charge start
            write_toyo(share / cid / f"{cid}_toscat", rec, CYCLING_START, np.maximum(cycles, 1))
            soc_truth.append((sample.id, cid, cell.counted * 100, sample.soc_nominal_pct))
        elif cid in OPERANDO_PROGRAMS:
            prog = OPERANDO_PROGRAMS[cid]
            dt = 60.0 if small else 10.0
            t = np.arange(0.0, prog.total_s + 1e-9, dt)
            st = prog.state(t)
            # the program switches current at the step boundaries: both sides are logged there
            edges = np.array([prog.rest_s, prog.rest_s + prog.charge_s])
            t_all = np.sort(np.r_[t, edges - 1e-3])
            st = prog.state(t_all)
            step = 1 + (t_all >= prog.rest_s).astype(int) + (t_all >= prog.rest_s + prog.charge_s).astype(int)
            rec = pd.DataFrame({"time_s": t_all, "current_a": st["current_a"], "voltage_v": st["voltage_v"], "step": step})
            write_mpt(share / cid / f"{cid}_operando_C01.mpt", rec, prog.start, "Galvanostatic Cycling with Potential Limitation",
                      cell_cfg.active_mass_mg, prog.material)
            soc_truth.append((sample.id, cid, float(st["soc_pct"][-1]), sample.soc_nominal_pct))
        elif cid == "half8":
            rec, pulses = gitt_records(small, rng)
            write_mpt(share / cid / f"{cid}_gitt_C01.mpt", rec, GITT_START,
                      "Galvanostatic Intermittent Titration Technique", cell_cfg.active_mass_mg)
            pulses.to_csv(truth_dir / "gitt_pulses_truth.csv", index=False)
            soc_truth.append((sample.id, cid, float(pulses["soc_end_pct"].iloc[-1]), sample.soc_nominal_pct))
        else:
            cell = half_program(sample.branch, sample.soc_nominal_pct or 0.0, rng)
            rec = records(cell, 600.0 if small else 60.0, rng)
            write_mpt(share / cid / f"{cid}_{sample.id}_C01.mpt", rec, CYCLING_START + timedelta(days=2),
                      "Galvanostatic Cycling with Potential Limitation", cell_cfg.active_mass_mg)
            soc_truth.append((sample.id, cid, cell.counted * 100, sample.soc_nominal_pct))
    pd.DataFrame(soc_truth, columns=["sample_id", "cell_id", "soc_true_pct", "soc_nominal_pct"]).to_csv(
        truth_dir / "sample_soc_truth.csv", index=False)
    (truth_dir / "world.json").write_text(json.dumps({
        "gitt_area_basis": "particle", "particle_radius_um": PARTICLE_RADIUS_M * 1e6,
        "coin_offset_v": COIN_OFFSET_V, "r_coin_ohm": R_COIN_OHM, "r_half_ohm": R_HALF_OHM,
        "voltage_noise_v": NOISE_V, "relaxation_time_s": RELAX_S, "profile": req.profile, "seed": req.seed,
    }, indent=2, sort_keys=True))
