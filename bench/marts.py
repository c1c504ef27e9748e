"""Marts benchmark: build the marts and run three typical queries on a warehouse of 10 M and 50 M
pixel rows (afm_pixels, plus co-registered afm_pairs), and report how the time scales.

    python bench/marts.py            # 10 M and 50 M pixel rows
    python bench/marts.py --quick    # 1 M and 5 M

ratio = t(large) / (5 x t(small)): 1.0 is linear scaling (target <= 1.2). The warehouse is written
through the real writer (contracts, partitioned Parquet, manifest); only its contents are synthetic
(maps of 512 x 512 pixels at the demo's SOC points), since no demo of that size exists on disk.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.config import parse_campaign  # noqa: E402
from schemas.afm import AFM_MAPS, AFM_PAIRS, AFM_PIXELS  # noqa: E402
from schemas.platform import PARAM_SETS, SAMPLE_CONFIG  # noqa: E402
from warehouse.marts import build_marts  # noqa: E402
from warehouse.store import Warehouse, write_unit  # noqa: E402

SIDE = 512
SAMPLES = [("P-DC0", 0.0, "discharge", 10.0, 2.0), ("P-DC50", 50.0, "discharge", 6.0, 1.2),
           ("P-CH100", 100.0, "charge", 4.0, 0.6)]
PARAMS_ID = "afm-bench@1#00000000"
QUERIES = {
    "esm_by_soc_region": """
        select s.soc_nominal_pct, p.region, avg(p.esm_amp_pm_per_v) as mean, stddev(p.esm_amp_pm_per_v) as sd,
               quantile_cont(p.esm_amp_pm_per_v, [0.05, 0.5, 0.95]) as q
        from afm_pixels p join sample_config s using (sample_id) group by all""",
    "esm_histogram_per_sample": """
        select sample_id, floor(esm_amp_pm_per_v / 0.5) * 0.5 as bin_pm_per_v, count(*) as n
        from afm_pixels where mode = 'ESM' group by all""",
    "esm_current_corr_per_sample": """
        select sample_id, corr(esm_amp_pm_per_v, current_pa) as r, count(*) as n from afm_pairs group by all""",
}


def _campaign(root: Path):
    return parse_campaign({"name": "bench", "storage": {"warehouse": str(root / "wh"), "raw_store": str(root / "raw")},
                           "samples": [{"id": s, "series": "polished", "branch": b, "soc_nominal_pct": soc}
                                       for s, soc, b, _, _ in SAMPLES]}, "bench")


def _map_rows(sample: str, k: int, mode: str, esm: float, cur: float) -> dict:
    row = {c: None for c in AFM_MAPS.column_names}
    row.update({"campaign": "bench", "sample_id": sample, "technique": "afm", "mode": mode,
                "measurement_id": f"{sample}-{k}-{mode}", "raw_sha256": f"{sample}{k:06d}{mode}".ljust(64, "0"),
                "reader": "bench@1", "params_id": PARAMS_ID, "flow_run_id": "bench",
                "processed_at": pd.Timestamp.now(tz="UTC"), "scan_size_x_um": 20.0, "scan_size_y_um": 20.0,
                "n_x_px": SIDE, "n_y_px": SIDE, "pixel_size_um": 20.0 / SIDE, "n_particles": 5,
                "esm_all_mean_pm_per_v": esm if mode == "ESM" else None,
                "current_all_mean_pa": cur if mode == "CAFM" else None, "quality_flags": "", "null_reasons": ""})
    return row


def write_warehouse(root: Path, pixel_rows: int, seed: int = 0) -> Warehouse:
    """Maps of SIDE x SIDE pixels, half ESM and half C-AFM, one co-registered pair per ESM map."""
    wh = Warehouse(str(root / "wh"))
    rng = np.random.default_rng(seed)
    n_maps = max(2, int(np.ceil(pixel_rows / SIDE**2)))
    tx = wh.transaction("bench")
    now = pd.Timestamp.now(tz="UTC")
    tx.upsert(SAMPLE_CONFIG, pd.DataFrame([{"campaign": "bench", "sample_id": s, "series": "polished", "branch": b,
                                            "soc_nominal_pct": soc, "cell_id": None, "description": ""}
                                           for s, soc, b, _, _ in SAMPLES]))
    tx.upsert(PARAM_SETS, pd.DataFrame([{"technique": "afm", "params_id": PARAMS_ID, "name": "afm-bench", "version": 1,
                                         "values_json": "{}", "active": True, "registered_at": now}]))
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) * np.float32(20.0 / SIDE)
    particle = ((np.sin(xx) * np.cos(yy)) > 0.2).astype(np.int32)
    region = np.where(particle > 0, "core", "matrix")
    maps = []
    for k in range(n_maps):
        sample, _, _, esm, cur = SAMPLES[k % len(SAMPLES)]
        mode = "ESM" if (k // len(SAMPLES)) % 2 == 0 else "CAFM"
        maps.append(_map_rows(sample, k, mode, esm, cur))
        noise = rng.standard_normal((SIDE, SIDE), dtype=np.float32)
        px = pd.DataFrame({"x_um": xx.ravel(), "y_um": yy.ravel(),
                           "height_nm": (noise * 5).ravel(),
                           "esm_amp_pm_per_v": (esm * (1 + 0.3 * noise)).ravel() if mode == "ESM" else np.nan,
                           "phase_deg": np.float32(0.0), "crf_khz": np.float32(350.0),
                           "current_pa": (cur * (1 + 0.3 * noise)).ravel() if mode == "CAFM" else np.nan,
                           "potential_v": np.nan,
                           "particle_id": particle.ravel(), "dist_to_boundary_um": np.float32(0.1),
                           "region": region.ravel()})
        meta = maps[-1]
        for c in ("campaign", "sample_id", "technique", "mode", "measurement_id", "raw_sha256", "reader",
                  "params_id", "flow_run_id", "processed_at"):
            px[c] = meta[c]
        tx.adopt(f"bench:{k}", {"afm_pixels": write_unit(wh, AFM_PIXELS, px, f"bench:{k}")})
        if mode == "ESM":
            pairs = px[["x_um", "y_um", "esm_amp_pm_per_v", "particle_id", "region", "campaign", "sample_id",
                        "technique", "mode", "raw_sha256", "reader", "params_id", "flow_run_id", "processed_at"]].copy()
            pairs["current_pa"] = (cur * (1 + 0.3 * noise) - 0.2 * noise).ravel()
            pairs["height_esm_nm"] = pairs["height_cafm_nm"] = np.float32(0.0)
            pairs["pair_id"] = pairs["measurement_id"] = f"pair-{k}"
            pairs["location_tag"] = f"loc{k}"
            pairs["esm_measurement_id"], pairs["cafm_measurement_id"] = meta["measurement_id"], f"cafm-{k}"
            tx.adopt(f"bench:{k}", {"afm_pairs": write_unit(wh, AFM_PAIRS, pairs, f"bench:{k}")})
    tx.adopt("bench:maps", {"afm_maps": write_unit(wh, AFM_MAPS, pd.DataFrame(maps), "bench:maps")})
    tx.commit()
    return wh


def measure(pixel_rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="socscope-bench-marts-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        wh = write_warehouse(root, pixel_rows)
        t_write = time.perf_counter() - t0
        campaign = _campaign(root)
        t0 = time.perf_counter()
        build_marts(campaign, wh, "bench", force=True, report_dir=root / "reports")
        t_marts = time.perf_counter() - t0
        con = wh.connect()
        times = {}
        for name, sql in QUERIES.items():
            t0 = time.perf_counter()
            con.execute(sql).fetchall()
            times[name] = time.perf_counter() - t0
        con.close()
        rows = sum(e.rows for e in wh.manifest().tables["afm_pixels"])
    return {"rows": rows, "write_s": t_write, "marts_s": t_marts, **{f"{k}_s": v for k, v in times.items()},
            "total_s": t_marts + sum(times.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    small, large = (1_000_000, 5_000_000) if args.quick else (10_000_000, 50_000_000)
    a = measure(small)
    b = measure(large)
    for label, r in (("small", a), ("large", b)):
        print(f"{label}: " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    ratios = {k: b[k] / (5 * a[k]) for k in a if k.endswith("_s") and k != "write_s" and a[k] > 0}
    print("per-step ratio t(large)/(5 t(small)): " + " ".join(f"{k}={v:.2f}" for k, v in ratios.items()))
    print(f"small_rows={a['rows']} large_rows={b['rows']} small_total_s={a['total_s']:.3f} "
          f"large_total_s={b['total_s']:.3f} marts_small_s={a['marts_s']:.3f} marts_large_s={b['marts_s']:.3f} "
          f"ratio={b['total_s'] / (5 * a['total_s']):.3f}")


if __name__ == "__main__":
    main()
