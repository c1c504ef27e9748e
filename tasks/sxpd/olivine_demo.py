"""Demo generator of the olivine campaign: operando LiFePO4/FePO4 (two-phase) at I11, a scan log, a Si standard.

Writes under ``<share_root>/sxpd/``:
- ``references/i11-<scan>_Si_standard.xye`` — the beamtime's Si standard (same λ and zero as the NCM demo);
- ``L-1/i11-<scan>_L-1.xye`` — one pattern per scan along ``demo_world.OPERANDO_PROGRAMS["lfp1"]``. The files
  carry NO time (as I11 summed patterns often do not): times are in
- ``L-1/i11_scanlog.csv`` — scan number, file name, start time (beamline-local wall clock, zone stated in a
  ``# timezone:`` comment), counting time; the standard's scan is in it too.
Intensities: gemmi structure factors of the phases the campaign declares (settings.sxpd.phases: the CIFs
of LiFePO4 and FePO4, Al current collector and Li counter electrode from space group + cell + atoms),
weighted physically by weight fraction (powder_gemmi.py), an independent path from the refinement.
x(FePO4) (mole fraction) follows the charge passed: x = SOC/100; both cells change slightly with x
(solid-solution ends). Truth under ``<truth_root>/sxpd/olivine_truth.csv``: per file, time, SOC, x, the
FePO4 weight fraction among the olivine phases, a, b, c of each phase (null where the phase is absent).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from foundation.contract import DemoRequest
from tasks.demo_world import OPERANDO_PROGRAMS
from tasks.sxpd.demo import local_time_text, two_theta_axis, xye_bytes
from tasks.sxpd.powder_gemmi import Phase, declared_phases, reflections, with_cell
from tasks.sxpd.synthesis import (
    DEMO_CAGLIOTI_DEG2,
    DEMO_WAVELENGTH_ANGSTROM,
    DEMO_ZERO_OFFSET_DEG,
    add_peaks,
    asymmetry,
    caglioti,
    counts,
    silicon_profile,
)

CAMPAIGN_NAME = "olivine-demo"
SAMPLE_ID, CELL_ID = "L-1", "lfp1"
EXPERIMENT = "cm40002-3"
FIRST_SCAN = 1700001
COUNTING_TIME_S = 20.0
LITHIATED, DELITHIATED = "LiFePO4", "FePO4"
#: cells at x(FePO4) = 0 and 1 (published, Streltsov 1993 / Andersson 2000) and their small solid-solution
#: change across the two-phase range (Å per unit x): the Li-rich phase shrinks a little, the Li-poor one grows
CELLS = {LITHIATED: ((10.332, 6.010, 4.692), (-0.004, -0.002, 0.001)),
         DELITHIATED: ((9.821, 5.792, 4.788), (-0.004, -0.002, 0.001))}
SIZE_NM = {LITHIATED: 120.0, DELITHIATED: 90.0}
MICROSTRAIN_PCT = 0.03
#: strongest line of a whole-LiFePO4 pattern (counts·deg, as the NCM demo); Al and Li fixed, as foil and metal
STRENGTH = {"olivine": 3000.0, "Al": 500.0, "Li": 120.0}
TWO_THETA_RANGE = (2.0, 40.0)


def profile_sizes(profile: str) -> dict[str, float]:
    return {"n_patterns": 16, "step_deg": 0.002} if profile == "small" else {"n_patterns": 120, "step_deg": 0.001}


def olivine_cells(x: float) -> dict[str, tuple[float, float, float]]:
    """(a, b, c) of each phase at FePO4 mole fraction x: LiFePO4 moves with x, FePO4 with (1 - x)."""
    (l0, dl), (f0, df) = CELLS[LITHIATED], CELLS[DELITHIATED]
    return {LITHIATED: tuple(v + s * x for v, s in zip(l0, dl)),
            DELITHIATED: tuple(v - s * (1.0 - x) for v, s in zip(f0, df))}


def weight_fraction(x: float, masses: dict[str, float]) -> float:
    """FePO4 weight fraction among the two olivine phases from its mole fraction (Z·M per cell)."""
    fp, lfp = x * masses[DELITHIATED], (1.0 - x) * masses[LITHIATED]
    return fp / (fp + lfp) if fp + lfp > 0 else 0.0


def lorentz_factor(theta_rad: np.ndarray) -> np.ndarray:
    """Lorentz factor of a powder line measured across its Debye–Scherrer cone by a strip detector,
    1/(sin θ·sin 2θ); no polarisation term, the synchrotron beam being polarised perpendicular to the
    scattering plane. Written here rather than taken from the refinement (crystallography.py), so that the
    demo's truth does not share the definition it is scored against (a constant factor is immaterial)."""
    return 1.0 / (np.sin(theta_rad) * np.sin(2.0 * theta_rad))


def phase_lines(phase: Phase, d_min: float, wavelength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2θ, m|F|²·L / V², d) of a phase's reflections inside the pattern."""
    d, f2, _ = reflections(phase, d_min)
    s = wavelength / (2.0 * d)
    ok = s < 1.0
    theta = np.arcsin(s[ok])
    return np.degrees(2.0 * theta), f2[ok] * lorentz_factor(theta) / phase.structure.cell.volume ** 2, d[ok]


def widths(tt: np.ndarray, size_nm: float, wavelength: float) -> np.ndarray:
    th = np.radians(tt) / 2.0
    sample = np.degrees(0.9 * wavelength / (size_nm * 10.0) / np.cos(th) + 4.0 * MICROSTRAIN_PCT / 100 * np.tan(th))
    return np.sqrt(caglioti(tt, DEMO_CAGLIOTI_DEG2) ** 2 + sample**2)


def olivine_profile(x_axis: np.ndarray, phases: dict[str, Phase], x: float, norm: float) -> np.ndarray:
    """Expected counts: background + the olivine phases at FePO4 mole fraction x + Al and Li (no noise)."""
    lam = DEMO_WAVELENGTH_ANGSTROM
    d_min = lam / (2.0 * np.sin(np.radians(x_axis[-1] + 0.5) / 2.0))
    y = 800.0 + 2000.0 * np.exp(-x_axis / 5.0) + 500.0 * np.exp(-(((x_axis - 8.0) / 3.0) ** 2))
    masses = {n: phases[n].cell_mass_u for n in (LITHIATED, DELITHIATED)}
    w_fp = weight_fraction(x, masses)
    cells = {name: with_cell(phases[name], *abc).structure.cell for name, abc in olivine_cells(x).items()}
    densities = {n: masses[n] / cells[n].volume for n in masses}  # of this pattern's cells
    vol = {LITHIATED: (1 - w_fp) / densities[LITHIATED], DELITHIATED: w_fp / densities[DELITHIATED]}
    total = sum(vol.values())
    for name in cells:
        if vol[name] <= 0:
            continue
        tt, strength, _ = phase_lines(phases[name], d_min, lam)
        add_peaks(x_axis, y, tt + DEMO_ZERO_OFFSET_DEG, widths(tt, SIZE_NM[name], lam),
                  strength * vol[name] / total * norm, 0.4, asymmetry(tt))
    for name in ("Al", "Li"):
        tt, strength, _ = phase_lines(phases[name], d_min, lam)
        fwhm = np.sqrt(caglioti(tt) ** 2 + (0.004 + 0.01 * np.tan(np.radians(tt) / 2)) ** 2)
        add_peaks(x_axis, y, tt + DEMO_ZERO_OFFSET_DEG, fwhm, strength / strength.max() * STRENGTH[name], 0.2,
                  asymmetry(tt))
    return y


def _norm(phases: dict[str, Phase], x_axis: np.ndarray) -> float:
    d_min = DEMO_WAVELENGTH_ANGSTROM / (2.0 * np.sin(np.radians(x_axis[-1] + 0.5) / 2.0))
    (a, b, c) = olivine_cells(0.0)[LITHIATED]
    _, strength, _ = phase_lines(with_cell(phases[LITHIATED], a, b, c), d_min, DEMO_WAVELENGTH_ANGSTROM)
    return STRENGTH["olivine"] / strength.max()


def _truth_row(name: str, scan: int, when_mid: pd.Timestamp, state: dict, x: float, w_fp: float) -> dict:
    row = {"file": f"{SAMPLE_ID}/{name}", "scan_number": scan, "measured_at": when_mid.isoformat(),
           "soc_pct": state["soc_pct"], "branch": state["branch"], "x_fepo4": x, "fepo4_weight_fraction": w_fp}
    for phase, (a, b, c) in olivine_cells(x).items():
        present = (x < 1.0) if phase == LITHIATED else (x > 0.0)
        for key, value in zip("abc", (a, b, c)):
            row[f"{phase}_{key}_angstrom"] = value if present else np.nan
    return row


def _write_standard(root: Path, seed: int, start: pd.Timestamp) -> list[dict]:
    x_std = two_theta_axis(0.001)
    y, e = counts(silicon_profile(x_std), np.random.default_rng([seed, 0]))
    name = f"i11-{FIRST_SCAN - 1}_Si_standard.xye"
    header = {"beamline": "i11", "detector": "Mythen3", "experiment": EXPERIMENT, "sample": "Si standard",
              "counting_time_s": 60.0}
    (root / "references" / name).write_bytes(xye_bytes(x_std, y, e, header))
    return [{"scan": FIRST_SCAN - 1, "file": name, "start_time": local_time_text(start - pd.Timedelta(minutes=40)),
             "count_time": 60.0}]


def demo(req: DemoRequest) -> None:
    root, truth_dir = Path(req.share_root) / "sxpd", Path(req.truth_root) / "sxpd"
    for folder in (root / "references", root / SAMPLE_ID, truth_dir):
        folder.mkdir(parents=True, exist_ok=True)
    phases = {p.name: p for p in declared_phases(req.campaign.settings.get("sxpd", {}), Path(req.campaign.resolve(".")))}
    program = OPERANDO_PROGRAMS[CELL_ID]
    start = pd.Timestamp(program.start)
    log = _write_standard(root, req.seed, start)
    sizes = profile_sizes(req.profile)
    x_axis = two_theta_axis(float(sizes["step_deg"]), *TWO_THETA_RANGE)
    norm = _norm(phases, x_axis)
    masses = {n: phases[n].cell_mass_u for n in (LITHIATED, DELITHIATED)}
    n = int(sizes["n_patterns"])
    rows = []
    for i in range(n):
        t_start = i * program.total_s / n
        state = {k: np.asarray(v).item() for k, v in program.state(np.array([t_start + COUNTING_TIME_S / 2])).items()}
        x = float(np.clip(state["soc_pct"] / 100.0, 0.0, 1.0))
        y, e = counts(olivine_profile(x_axis, phases, x, norm), np.random.default_rng([req.seed, 7, i]))
        scan, name = FIRST_SCAN + i, f"i11-{FIRST_SCAN + i}_{SAMPLE_ID}.xye"
        header = {"beamline": "i11", "detector": "Mythen3", "experiment": EXPERIMENT, "sample": SAMPLE_ID}
        (root / SAMPLE_ID / name).write_bytes(xye_bytes(x_axis, y, e, header))
        when = start + pd.Timedelta(seconds=t_start)
        log.append({"scan": scan, "file": name, "start_time": local_time_text(when), "count_time": COUNTING_TIME_S})
        rows.append(_truth_row(name, scan, when + pd.Timedelta(seconds=COUNTING_TIME_S / 2), state, x,
                               weight_fraction(x, masses)))
    text = "# I11 scan log (demo); wall-clock times of the beamline\n# timezone: Europe/London\n"
    (root / SAMPLE_ID / "i11_scanlog.csv").write_text(text + pd.DataFrame(log).to_csv(index=False))
    pd.DataFrame(rows).to_csv(truth_dir / "olivine_truth.csv", index=False, float_format="%.8g")
    (truth_dir / "calibration_truth.json").write_text(json.dumps(
        {"wavelength_angstrom": DEMO_WAVELENGTH_ANGSTROM, "zero_offset_deg": DEMO_ZERO_OFFSET_DEG,
         "caglioti_uvw_deg2": list(DEMO_CAGLIOTI_DEG2), "standard_a_angstrom": 5.431}, indent=1))
