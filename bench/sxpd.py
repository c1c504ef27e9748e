"""SXPD benchmark: read + per-pattern features of ≥1000 I11 .xye patterns of ~64k points.

Baseline, run side by side on the same files in the same process: only parsing them with the
plainest fast code (pyarrow.csv → numpy arrays; numpy.loadtxt printed too). Ours: the registered
reader plus the plugin's ``process`` (lattice search, batched peak fits of every reflection group,
lattice, Williamson–Hall) with the calibration read from a (pre-built) warehouse query.
Patterns are generated in chunks in a temporary folder (generation is not timed), so disk use stays
small. Usage: python bench/sxpd.py [--quick] [--patterns N]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="60 patterns instead of 1000")
    ap.add_argument("--patterns", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--block", type=int, default=5, help="files per alternation of baseline and ours")
    args = ap.parse_args()
    n_total = args.patterns or (60 if args.quick else 1000)
    root = Path(__file__).resolve().parents[1]
    plugin = technique("sxpd")
    reader = next(r for r in plugin.readers if r.name == "i11-xye")
    params = load_params(plugin.default_params)
    campaign = load_campaign(root / "socscope" / "demo_campaign.yaml")
    calibration = pd.DataFrame([{"calibration_id": "bench", "beamtime": "cm40001-2", "params_id": params.id,
                                 "measured_at": pd.Timestamp("2026-05-04T08:00:00Z"),
                                 "wavelength_angstrom": DEMO_WAVELENGTH_ANGSTROM,
                                 "zero_offset_deg": DEMO_ZERO_OFFSET_DEG, "caglioti_u_deg2": DEMO_CAGLIOTI_DEG2[0],
                                 "caglioti_v_deg2": DEMO_CAGLIOTI_DEG2[1], "caglioti_w_deg2": DEMO_CAGLIOTI_DEG2[2]}])
    ctx = ProcessContext(campaign, campaign.sample("O-1"), params, {}, lambda sql, params=None: calibration)
    x = two_theta_axis(0.001)
    rng = np.random.default_rng(622)
    socs = rng.uniform(0.0, 100.0, n_total)
    t_base = t_loadtxt = t_ours = t_read = cpu_base = cpu_ours = 0.0
    n_loadtxt = 0
    errors_a, errors_c = [], []
    with tempfile.TemporaryDirectory(prefix="sxpd_bench_") as tmp:
        for start in range(0, n_total, args.chunk):
            files, truth = [], []
            for i in range(start, min(start + args.chunk, n_total)):
                sample = Sample(float(target("a_angstrom", socs[i])), float(target("c_angstrom", socs[i])),
                                float(target("microstrain_c_pct", socs[i])))
                y, e = counts(ncm_profile(x, sample), np.random.default_rng([622, i]))
                path = Path(tmp) / f"i11-{1600000 + i}_bench.xye"
                header = {"beamline": "i11", "detector": "Mythen3", "experiment": "cm40001-2",
                          "scan_number": 1600000 + i, "sample": "O-1", "start_time": "2026-05-04T10:00:00.000",
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
                        rows.append(plugin.process(m, ctx)["sxpd_patterns"])
                    t_ours += time.perf_counter() - t0
                    cpu_ours += time.process_time() - c0
            for row, sample in zip(rows, truth):
                errors_a.append(row["a_angstrom"].iloc[0] - sample.a_angstrom)
                errors_c.append(row["c_angstrom"].iloc[0] - sample.c_angstrom)
            for path in files:
                path.unlink()
    errors_a, errors_c = np.abs(errors_a), np.abs(errors_c)
    within = float(np.mean((errors_a <= 0.0005) & (errors_c <= 0.002)))
    print(f"patterns: {n_total} x {len(x)} points (2θ {x[0]:g}–{x[-1]:g}°), .xye")
    print(f"baseline pyarrow.csv parse: {t_base:.2f} s = {n_total / t_base:.1f} patterns/s "
          f"({1000 * t_base / n_total:.1f} ms/pattern)")
    print(f"baseline numpy.loadtxt parse (first {n_loadtxt}): {1000 * t_loadtxt / n_loadtxt:.1f} ms/pattern")
    print(f"ours read + process: {t_ours:.2f} s = {n_total / t_ours:.1f} patterns/s "
          f"({1000 * t_ours / n_total:.1f} ms/pattern)")
    print(f"  of which reading {1000 * t_read / n_total:.1f} ms/pattern, features {1000 * (t_ours - t_read) / n_total:.1f} ms/pattern")
    print(f"CPU time (all threads of this process): baseline {1000 * cpu_base / n_total:.1f} ms/pattern, "
          f"ours {1000 * cpu_ours / n_total:.1f} ms/pattern; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"accuracy: {100 * within:.1f} % of patterns with |Δa| ≤ 0.0005 Å and |Δc| ≤ 0.002 Å; "
          f"max |Δa| {errors_a.max():.5f} Å, max |Δc| {errors_c.max():.5f} Å")
    print(f"patterns={n_total} points={len(x)} ours_patterns_per_s={n_total / t_ours:.2f} "
          f"baseline_patterns_per_s={n_total / t_base:.2f} read_ms={1000 * t_read / n_total:.2f} "
          f"features_ms={1000 * (t_ours - t_read) / n_total:.2f} ratio={t_ours / t_base:.2f} "
          f"cpu_ratio={cpu_ours / cpu_base:.2f} ratio_vs_loadtxt={(t_ours / n_total) / (t_loadtxt / n_loadtxt):.2f} "
          f"within_tolerance={within:.3f}")


if __name__ == "__main__":
    main()
