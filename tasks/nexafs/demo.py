"""Demo NEXAFS beamtime at KARA: raw TEY+FY scans of the polished NCM622 series, NiO calibration
and measured Ni2+/Ni3+ end-member reference scans, following finding 3 of SCIENCE.md.

What makes it realistic enough to score against: I0 drifts 6-10 % over a scan, every channel
carries a dark offset (stated in the header), each scan has its own energy offset (beamtime
offset +- per-scan jitter, |offset| <= 0.5 eV) that only the reference channel (Ni L, O K) or
the NiO scan (Co L, Mn L) can undo, FY is self-absorbed (same thick-sample model and tabulated
attenuation as the correction), and the end members used for fitting are noisy measured scans.
"""
from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np

from foundation.contract import DemoRequest
from tasks.demo_world import target
from tasks.nexafs.absorption import self_absorption_ratio
from tasks.nexafs.chain import self_absorb

SAMPLES = {"P-DC0": 0.0, "P-CH27": 27.0, "P-CH55": 55.0, "P-CH83": 83.0, "P-CH100": 100.0}
BEAMTIME = "KARA-2026-05"
FORMULA = "LiNi0.6Co0.2Mn0.2O2"
ANGLES = (45.0, 45.0)  # incidence, exit from the surface

#: raw scan ranges (eV) and the post-edge window over which the true spectra are 1
RANGES = {"Ni_L": (844.0, 881.0), "Co_L": (769.0, 806.0), "Mn_L": (629.0, 666.0), "O_K": (519.0, 561.0)}
POST = {"Ni_L": (876.0, 880.0), "Co_L": (800.0, 805.0), "Mn_L": (660.0, 665.0), "O_K": (550.0, 560.0)}
SA_ENERGIES = {"Ni_L": ("Ni", "L3", 845.0, 880.0), "Co_L": ("Co", "L3", 770.0, 805.0),
               "Mn_L": ("Mn", "L3", 630.0, 665.0), "O_K": ("O", "K", 520.0, 560.0)}
HAS_REFERENCE_CHANNEL = {"Ni_L": True, "O_K": True, "Co_L": False, "Mn_L": False}


def _gauss(e: np.ndarray, peaks: list[tuple[float, float, float]]) -> np.ndarray:
    return sum(a * np.exp(-0.5 * ((e - c) / s) ** 2) for c, a, s in peaks)


def _steps(e: np.ndarray, edges: list[tuple[float, float]], width: float) -> np.ndarray:
    return sum(w * (0.5 + np.arctan((e - c) / width) / np.pi) for c, w in edges)


def _unit_post(e: np.ndarray, y: np.ndarray, edge: str) -> np.ndarray:
    lo, hi = POST[edge]
    return y / y[(e >= lo) & (e <= hi)].mean()


def ni_l(e: np.ndarray, ni2_fraction: float) -> np.ndarray:
    """Ni L2,3 absorption (1 far above the edge): Ni2+ multiplet (strong ~853 eV) mixed with
    covalent Ni3+ (strong ~855 eV)."""
    step = _steps(e, [(853.5, 2 / 3), (871.0, 1 / 3)], 0.8)
    ni2 = _gauss(e, [(853.0, 3.0, 0.45), (855.0, 0.9, 0.6), (870.6, 1.0, 0.6), (872.3, 0.8, 0.6)])
    ni3 = _gauss(e, [(853.0, 1.3, 0.45), (855.0, 2.4, 0.6), (870.8, 0.6, 0.6), (872.3, 1.1, 0.6)])
    return _unit_post(e, step + ni2_fraction * ni2 + (1 - ni2_fraction) * ni3, "Ni_L")


def co_l(e: np.ndarray) -> np.ndarray:
    y = _steps(e, [(779.5, 2 / 3), (795.0, 1 / 3)], 0.8) + _gauss(e, [(778.4, 0.6, 0.5), (780.5, 3.0, 0.6),
                                                                      (795.6, 1.2, 0.8)])
    return _unit_post(e, y, "Co_L")


def mn_l(e: np.ndarray) -> np.ndarray:
    y = _steps(e, [(641.5, 2 / 3), (652.5, 1 / 3)], 0.8) + _gauss(e, [(640.5, 1.0, 0.6), (642.5, 2.0, 0.8),
                                                                      (653.5, 1.1, 1.0)])
    return _unit_post(e, y, "Mn_L")


def o_k(e: np.ndarray, preedge_rel: float) -> np.ndarray:
    """O K: TM 3d - O 2p hybrid pre-edge peaks (~529, ~530.3 eV) growing with SOC, then the edge."""
    y = (_steps(e, [(536.0, 1.0)], 1.5) + _gauss(e, [(538.5, 1.0, 2.0), (543.5, 0.6, 3.0)])
         + preedge_rel * _gauss(e, [(529.0, 0.55, 0.40), (530.3, 0.35, 0.45)]))
    return _unit_post(e, y, "O_K")


def reference_mesh(e: np.ndarray, edge: str) -> np.ndarray:
    """NiO-coated mesh upstream of the sample: Ni L3 peak at 853.0 eV, O K pre-peak at 532.0 eV."""
    if edge == "Ni_L":
        return ni_l(e, 1.0)
    return _steps(e, [(535.5, 1.0)], 1.0) + _gauss(e, [(532.0, 1.5, 0.5), (540.0, 0.8, 2.5)])


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def write_scan(path: Path, *, rng: np.random.Generator, edge: str, sample: str | None, role: str,
               scan_no: int, offset_ev: float, true_tey, true_fy,
               with_reference: bool) -> None:
    """One raw KARA scan file; ``true_*`` are functions of the true energy (normalised absorption)."""
    lo, hi = RANGES[edge]
    e_raw = np.round(np.arange(lo, hi + 0.05, 0.1), 3)
    e_true = e_raw + offset_ev
    n = e_raw.size
    t = np.linspace(0.0, 1.0, n)
    dwell = 0.5
    drift = rng.uniform(0.06, 0.10) * rng.choice([-1.0, 1.0])
    i0 = 2.0e-10 * (1.0 + drift * t) * (1.0 - 0.03 * np.sin(2.5 * t + rng.uniform(0, 3)))
    dark = {"I0": rng.uniform(1e-12, 4e-12), "TEY": rng.uniform(2e-13, 8e-13), "FY": rng.uniform(10, 40),
            "Ref": rng.uniform(5e-14, 2e-13)}
    cols = {"Energy(eV)": e_raw, "I0(A)": i0 * (1 + 0.001 * rng.standard_normal(n)) + dark["I0"]}
    rel_e = (e_true - lo) / (hi - lo)
    if true_tey is not None:
        tey = i0 * 0.05 * (0.6 - 0.15 * rel_e + 0.25 * true_tey(e_true))
        cols["TEY(A)"] = tey * (1 + 0.002 * rng.standard_normal(n)) + dark["TEY"]
    if true_fy is not None:
        element, level, below, above = SA_ENERGIES[edge]
        r = self_absorption_ratio(FORMULA, element, level, below, above, *ANGLES)
        rate = (i0 / 2.0e-10) * 4.0e4 * (0.3 + 0.02 * rel_e + self_absorb(true_fy(e_true), r)[0])
        counts = rng.poisson(rate * dwell * 10) / (dwell * 10)  # 10 sweeps averaged
        cols["FY(cps)"] = counts + dark["FY"]
    if with_reference:
        ref = i0 * 0.01 * (1.0 + 0.3 * reference_mesh(e_true, edge))
        cols["Ref(A)"] = ref * (1 + 0.0005 * rng.standard_normal(n)) + dark["Ref"]
    cols["Ring(mA)"] = 150.0 - 0.4 * t
    header = [
        "# KARA soft X-ray scan (socscope demo)",
        "# Beamline: KARA WERA",
        f"# Beamtime: {BEAMTIME}",
        f"# Scan: {scan_no:05d}",
        f"# Sample: {sample or 'reference'}",
        f"# Role: {role}",
        f"# Edge: {edge}",
        f"# Dwell (s): {dwell}",
        "# Ring current (mA): 150.0",
        f"# Incidence angle (deg): {ANGLES[0]}",
        f"# Exit angle (deg): {ANGLES[1]}",
    ]
    for name, unit in (("I0", "A"), ("TEY", "A"), ("FY", "cps"), ("Ref", "A")):
        if f"{name}({unit})" in cols:
            header.append(f"# Dark {name} ({unit}): {dark[name]:.6e}")
    header.append("# " + "\t".join(cols))
    block = np.column_stack(list(cols.values()))
    fmt = ["%.3f"] + ["%.6e"] * (block.shape[1] - 2) + ["%.3f"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(header) + "\n")
        np.savetxt(fh, block, fmt=fmt, delimiter="\t")


def demo(req: DemoRequest) -> None:
    share = Path(req.share_root) / "nexafs"
    truth_dir = Path(req.truth_root) / "nexafs"
    truth_dir.mkdir(parents=True, exist_ok=True)
    rng = _rng(req.seed, "beamtime")
    beamtime_offset = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.35))  # never negligible
    repeats = 1 if req.profile == "small" else 3
    scan_no = 0
    def offset(edge: str, r: np.random.Generator) -> float:
        jitter = r.uniform(-0.2, 0.2) if HAS_REFERENCE_CHANNEL[edge] else 0.0
        return float(np.clip(beamtime_offset + jitter, -0.5, 0.5))

    # references first: NiO calibration of the beamtime and the measured end members
    refs = [("NiO_cal_" + BEAMTIME + ".dat", "nio_calibration", 1.0),
            ("Ni2_ref_NiO.dat", "ni2_reference", 1.0),
            ("Ni3_ref_LiNiO2.dat", "ni3_reference", 0.0)]
    for name, role, frac in refs:
        scan_no += 1
        r = _rng(req.seed, name)
        off = beamtime_offset if role == "nio_calibration" else offset("Ni_L", r)
        write_scan(share / "references" / name, rng=r, edge="Ni_L", sample=None, role=role, scan_no=scan_no,
                   offset_ev=off, true_tey=(lambda e, f=frac: ni_l(e, f)), true_fy=None,
                   with_reference=role != "nio_calibration")
    rows = []
    for sample, soc in SAMPLES.items():
        r_sample = _rng(req.seed, sample)
        x_tey = float(np.clip(target("ni2_fraction_tey", soc) + r_sample.normal(0, 0.01), 0, 1))
        x_fy = float(np.clip(target("ni2_fraction_fy", soc) + r_sample.normal(0, 0.01), 0, 1))
        ok_rel = float(target("ok_preedge_rel", soc) * (1 + r_sample.normal(0, 0.01)))
        truth_by_edge = {
            "Ni_L": (lambda e: ni_l(e, x_tey), lambda e: ni_l(e, x_fy)),
            "Co_L": (co_l, co_l),
            "Mn_L": (mn_l, mn_l),
            "O_K": (lambda e: o_k(e, ok_rel), lambda e: o_k(e, ok_rel)),
        }
        for edge, (f_tey, f_fy) in truth_by_edge.items():
            for k in range(repeats):
                scan_no += 1
                name = f"{sample}_{edge}_{k + 1:02d}.dat"
                r = _rng(req.seed, name)
                off = offset(edge, r)
                write_scan(share / sample / name, rng=r, edge=edge, sample=sample, role="sample", scan_no=scan_no,
                           offset_ev=off, true_tey=f_tey, true_fy=f_fy, with_reference=HAS_REFERENCE_CHANNEL[edge])
                for mode, frac in (("TEY", x_tey), ("FY", x_fy)):
                    rows.append({"sample_id": sample, "soc_pct": soc, "file": f"{sample}/{name}", "edge": edge,
                                 "mode": mode, "energy_offset_ev": round(off, 4),
                                 "ni2_fraction_true": round(frac, 5) if edge == "Ni_L" else "",
                                 "ok_preedge_rel_true": round(ok_rel, 5) if edge == "O_K" else ""})
    with open(truth_dir / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
