"""SXPD benchmark: read + per-pattern features of ≥1000 I11 .xye patterns of ~64k points.

Baseline, run side by side on the same files in the same process: only parsing them with the
plainest fast code (pyarrow.csv → numpy arrays; numpy.loadtxt printed too). Ours: the registered
reader plus the plugin's ``process`` (lattice search, batched peak fits of every reflection group,
lattice, Williamson–Hall) with the calibration read from a (pre-built) warehouse query.
Patterns are generated in chunks in a temporary folder (generation is not timed), so disk use stays
small. Usage: python bench/sxpd.py [--quick] [--patterns N] [--olivine]

``--olivine``: the patterns of the olivine demo campaign instead (LiFePO4 + FePO4 at random x, Al, Li,
2θ 2–40°; tasks/sxpd/olivine_demo.py), processed with that campaign's declared phases; the accuracy line
then reports the worst a, b, c error per phase and of the FePO4 fraction from ``sxpd_phase_cells``
(the multi-phase refinement). The key line gains ``kind=olivine``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.config import load_campaign  # noqa: E402
from foundation.contract import ProcessContext, Provenance  # noqa: E402
from foundation.registry import load_params, technique  # noqa: E402
from socscope.demo import write_config  # noqa: E402
from tasks.sxpd import olivine_demo as OL  # noqa: E402
from tasks.sxpd.powder_gemmi import declared_phases  # noqa: E402
from tasks.demo_world import target  # noqa: E402
from tasks.sxpd.demo import two_theta_axis, xye_bytes  # noqa: E402
from tasks.sxpd.synthesis import (  # noqa: E402
    DEMO_CAGLIOTI_DEG2,
    DEMO_WAVELENGTH_ANGSTROM,
    DEMO_ZERO_OFFSET_DEG,
    Sample,
    counts,
    ncm_profile,
)


def baseline_parse(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=["x", "y", "e"], skip_rows=7),
                           parse_options=pacsv.ParseOptions(delimiter=" "))
    return tuple(table.column(i).to_numpy() for i in range(3))


class NcmKind:
    """The NCM622 operando patterns (the default): a and c against the demo world's targets."""

    name, table, sample_id, config = "ncm622", "sxpd_patterns", "O-1", "demo_campaign.yaml"

    def __init__(self, n_total: int, tmp: Path, root: Path) -> None:
        self.campaign = load_campaign(root / "socscope" / self.config)
        self.x = two_theta_axis(0.001)
        self.socs = np.random.default_rng(622).uniform(0.0, 100.0, n_total)
        self.errors: list[tuple[float, float]] = []

    def pattern(self, i: int):
        sample = Sample(float(target("a_angstrom", self.socs[i])), float(target("c_angstrom", self.socs[i])),
                        float(target("microstrain_c_pct", self.socs[i])))
        return counts(ncm_profile(self.x, sample), np.random.default_rng([622, i])), sample

    def record(self, row: pd.DataFrame, sample) -> None:
        self.errors.append((row["a_angstrom"].iloc[0] - sample.a_angstrom, row["c_angstrom"].iloc[0] - sample.c_angstrom))

    def accuracy(self) -> tuple[str, str]:
        err = np.abs(np.array(self.errors))
        within = float(np.mean((err[:, 0] <= 0.0005) & (err[:, 1] <= 0.002)))
        return (f"accuracy: {100 * within:.1f} % of patterns with |Δa| ≤ 0.0005 Å and |Δc| ≤ 0.002 Å; "
                f"max |Δa| {err[:, 0].max():.5f} Å, max |Δc| {err[:, 1].max():.5f} Å", f"within_tolerance={within:.3f}")


class OlivineKind(NcmKind):
    """The olivine demo's patterns at random FePO4 fractions: every cell and the fraction against the truth."""

    name, table, sample_id, config = "olivine", "sxpd_phase_cells", OL.SAMPLE_ID, None

    def __init__(self, n_total: int, tmp: Path, root: Path) -> None:
        self.campaign = write_config(Path(tmp) / "campaign", "small", "olivine")
        self.phases = {p.name: p for p in declared_phases(self.campaign.settings["sxpd"], self.campaign.base_dir)}
        self.x = two_theta_axis(0.002, *OL.TWO_THETA_RANGE)
        self.norm = OL._norm(self.phases, self.x)
        self.xs = np.random.default_rng(622).uniform(0.0, 1.0, n_total)
        self.errors = []

    def pattern(self, i: int):
        x = float(self.xs[i])
        y = OL.olivine_profile(self.x, self.phases, x, self.norm)
        masses = {n: self.phases[n].cell_mass_u for n in (OL.LITHIATED, OL.DELITHIATED)}
        return counts(y, np.random.default_rng([622, i])), (OL.olivine_cells(x), OL.weight_fraction(x, masses))

    def record(self, rows: pd.DataFrame, truth) -> None:
        cells, w_fp = truth
        by_phase = rows.set_index("phase")
        err = [abs(by_phase.loc[p, f"{k}_angstrom"] - cells[p][j]) for p in cells for j, k in enumerate("abc")]
        wf = by_phase.loc[[OL.LITHIATED, OL.DELITHIATED], "weight_fraction"].fillna(0.0)
        err.append(abs(wf[OL.DELITHIATED] / wf.sum() - w_fp))
        self.errors.append(tuple(err))

    def accuracy(self) -> tuple[str, str]:
        err = np.array(self.errors, dtype=float)
        cell_ok = np.nan_to_num(err[:, :6], nan=1.0).max(axis=1) <= 0.001
        within = float(np.mean(cell_ok & (np.nan_to_num(err[:, 6], nan=1.0) <= 0.03)))
        return (f"accuracy: {100 * within:.1f} % of patterns with every cell within 0.001 Å and the FePO4 fraction "
                f"within 0.03; max |Δ| LiFePO4 a b c {np.nanmax(err[:, 0]):.5f} {np.nanmax(err[:, 1]):.5f} "
                f"{np.nanmax(err[:, 2]):.5f} Å, FePO4 {np.nanmax(err[:, 3]):.5f} {np.nanmax(err[:, 4]):.5f} "
                f"{np.nanmax(err[:, 5]):.5f} Å, fraction {np.nanmax(err[:, 6]):.4f}", f"within_tolerance={within:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="60 patterns instead of 1000")
    ap.add_argument("--patterns", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--block", type=int, default=5, help="files per alternation of baseline and ours")
    ap.add_argument("--olivine", action="store_true", help="the olivine demo's patterns (LiFePO4/FePO4) instead")
    args = ap.parse_args()
    n_total = args.patterns or (60 if args.quick else 1000)
    root = Path(__file__).resolve().parents[1]
    plugin = technique("sxpd")
    reader = next(r for r in plugin.readers if r.name == "i11-xye")
    params = load_params(plugin.default_params)
    calibration = pd.DataFrame([{"calibration_id": "bench", "beamtime": "cm40001-2", "params_id": params.id,
                                 "measured_at": pd.Timestamp("2026-05-04T08:00:00Z"),
                                 "wavelength_angstrom": DEMO_WAVELENGTH_ANGSTROM,
                                 "zero_offset_deg": DEMO_ZERO_OFFSET_DEG, "caglioti_u_deg2": DEMO_CAGLIOTI_DEG2[0],
                                 "caglioti_v_deg2": DEMO_CAGLIOTI_DEG2[1], "caglioti_w_deg2": DEMO_CAGLIOTI_DEG2[2]}])
    t_base = t_loadtxt = t_ours = t_read = cpu_base = cpu_ours = 0.0
    n_loadtxt = 0
    with tempfile.TemporaryDirectory(prefix="sxpd_bench_") as tmp:
        kind = (OlivineKind if args.olivine else NcmKind)(n_total, Path(tmp), root)
        campaign, x = kind.campaign, kind.x
        ctx = ProcessContext(campaign, campaign.sample(kind.sample_id), params, {},
                             lambda sql, params=None: calibration if "sxpd_calibrations" in sql else pd.DataFrame())
        for start in range(0, n_total, args.chunk):
            files, truth = [], []
            for i in range(start, min(start + args.chunk, n_total)):
                (y, e), sample = kind.pattern(i)
                path = Path(tmp) / f"i11-{1600000 + i}_bench.xye"
                header = {"beamline": "i11", "detector": "Mythen3", "experiment": "cm40001-2",
                          "scan_number": 1600000 + i, "sample": kind.sample_id, "start_time": "2026-05-04T10:00:00.000",
                          "counting_time_s": 30.0}
                path.write_bytes(xye_bytes(x, y, e, header))
                files.append(path)
                truth.append(sample)
            os.sync()  # the files are on disk before anything is timed: no writeback during the runs
            if start == 0:  # numpy.loadtxt is slow: time it on the first chunk only
                t0 = time.perf_counter()
                for path in files:
                    np.loadtxt(path, comments="#")
                t_loadtxt += time.perf_counter() - t0
                n_loadtxt += len(files)
            rows = []
            # baseline and ours alternate in blocks of a few files (in turn which goes first), so a
            # change in machine speed — other tenants of a shared host — falls on both alike
            for b, first in enumerate(range(0, len(files), args.block)):
                block = files[first:first + args.block]
                for side in (("base", "ours") if b % 2 == 0 else ("ours", "base")):
                    t0, c0 = time.perf_counter(), time.process_time()
                    if side == "base":
                        for path in block:
                            baseline_parse(path)
                        t_base += time.perf_counter() - t0
                        cpu_base += time.process_time() - c0
                        continue
                    for path in block:
                        r0 = time.perf_counter()
                        m = reader.read(path, {})
                        t_read += time.perf_counter() - r0
                        m.provenance = Provenance("0" * 64, reader.id, path.name)
                        rows.append(plugin.process(m, ctx)[kind.table])
                    t_ours += time.perf_counter() - t0
                    cpu_ours += time.process_time() - c0
            for row, sample in zip(rows, truth):
                kind.record(row, sample)
            for path in files:
                path.unlink()
    accuracy, within = kind.accuracy()
    print(f"patterns: {n_total} x {len(x)} points (2θ {x[0]:g}–{x[-1]:g}°), .xye, {kind.name}")
    print(f"baseline pyarrow.csv parse: {t_base:.2f} s = {n_total / t_base:.1f} patterns/s "
          f"({1000 * t_base / n_total:.1f} ms/pattern)")
    print(f"baseline numpy.loadtxt parse (first {n_loadtxt}): {1000 * t_loadtxt / n_loadtxt:.1f} ms/pattern")
    print(f"ours read + process: {t_ours:.2f} s = {n_total / t_ours:.1f} patterns/s "
          f"({1000 * t_ours / n_total:.1f} ms/pattern)")
    print(f"  of which reading {1000 * t_read / n_total:.1f} ms/pattern, features {1000 * (t_ours - t_read) / n_total:.1f} ms/pattern")
    print(f"CPU time (all threads of this process): baseline {1000 * cpu_base / n_total:.1f} ms/pattern, "
          f"ours {1000 * cpu_ours / n_total:.1f} ms/pattern; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(accuracy)
    print(f"patterns={n_total} points={len(x)} ours_patterns_per_s={n_total / t_ours:.2f} "
          f"baseline_patterns_per_s={n_total / t_base:.2f} read_ms={1000 * t_read / n_total:.2f} "
          f"features_ms={1000 * (t_ours - t_read) / n_total:.2f} ratio={t_ours / t_base:.2f} "
          f"cpu_ratio={cpu_ours / cpu_base:.2f} ratio_vs_loadtxt={(t_ours / n_total) / (t_loadtxt / n_loadtxt):.2f} "
          f"{within}" + (f" kind={kind.name}" if args.olivine else ""))


if __name__ == "__main__":
    main()
