"""AFM benchmark: N Asylum maps (512x512 x 4 channels) through the production path of a file (read ->
features -> contract validation of every table, the pixel table included -> Parquet), against a baseline
that only reads the same files with numpy on the raw bytes and writes the raw channels to Parquet.

    python bench/afm.py            # 100 maps of 512x512
    python bench/afm.py --quick    # 8 maps of 256x256
Last line: key=value pairs including ratio= (pipeline time / baseline time).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.contract import ProcessContext  # noqa: E402
from foundation.registry import all_readers, load_params, read_measurements  # noqa: E402
from schemas.afm import AFM_MAPS, AFM_PARTICLES, AFM_PIXELS  # noqa: E402
from schemas.core import _pandera_schema  # noqa: E402
from tasks.afm.writers import write_asylum_ibw  # noqa: E402
from tasks.pipeline import stamp_frame  # noqa: E402
from warehouse.store import Warehouse, write_unit  # noqa: E402

CHANNELS = ("HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace")


def make_files(folder: Path, n_maps: int, n_px: int) -> list[Path]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:n_px, 0:n_px] / n_px * 5.0
    paths = []
    for i in range(n_maps):
        mask = np.zeros((n_px, n_px), bool)
        for _ in range(3):
            cx, cy, r = rng.uniform(0, 5, 2).tolist() + [rng.uniform(0.8, 1.6)]
            mask |= (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        amp = np.where(mask, 8.0, 3.0) * 1e-12 * 2.0 * 50 + rng.normal(0, 2e-10, mask.shape)
        channels = {"HeightRetrace": (rng.normal(0, 8, mask.shape) + 10 * mask + 20 * xx) * 1e-9,
                    "AmplitudeRetrace": np.abs(amp), "DeflectionRetrace": rng.normal(0, 1e-10, mask.shape),
                    "PhaseRetrace": rng.normal(90, 5, mask.shape)}
        note = {"ScanSize": 5e-6, "FastScanSize": 5e-6, "SlowScanSize": 5e-6, "ImagingMode": "PFM Mode",
                "DriveAmplitude": 2.0, "ContactQ": 50.0}
        path = folder / f"bench_loc{i:03d}_esm.ibw"
        write_asylum_ibw(path, channels, note, 5e-6, wave_name=f"bench{i:04d}")
        paths.append(path)
    return paths


def baseline(paths: list[Path], out: Path, n_px: int) -> tuple[float, float]:
    """Plainest fast code: numpy view of the raw float32 block after the 384-byte v5 headers."""
    t, c = time.perf_counter(), time.process_time()
    for i, path in enumerate(paths):
        raw = np.fromfile(path, dtype="<f4", count=n_px * n_px * 4, offset=384).reshape(4, n_px, n_px)
        table = pa.table({name: raw[k].ravel() for k, name in enumerate(CHANNELS)})
        pq.write_table(table, out / f"raw_{i}.parquet")
    return time.perf_counter() - t, time.process_time() - c


def pipeline(paths: list[Path], out: Path) -> tuple[float, float]:
    """The production path of a file, as tasks.pipeline.compute_file and process_file_here run it:
    read, process(), stamp the key/lineage columns, then warehouse.store.write_unit, which validates
    each table against its contract (schemas.core.conform, the pixel table included) and writes it."""
    params = load_params(Path(__file__).resolve().parents[1] / "tasks/afm/params/default.yaml")
    from tasks.afm.process import process

    ctx = ProcessContext(campaign=None, sample=None, params=params, options={}, query=lambda sql: None)
    specs = {"afm_maps": AFM_MAPS, "afm_pixels": AFM_PIXELS, "afm_particles": AFM_PARTICLES}
    wh = Warehouse(str(out))
    # one-off start-up outside the timed loop (as the baseline's imports are): the registry imports
    # every technique plugin on its first detection, the writer's contract imports pandera
    all_readers()
    for spec in specs.values():
        _pandera_schema(spec)
    t, c = time.perf_counter(), time.process_time()
    for i, path in enumerate(paths):
        reader, (m,) = read_measurements(path, f"{i:064d}", path.name, technique_name="afm")
        frames = process(m, ctx)
        for name, spec in specs.items():
            df = stamp_frame(frames[name], campaign="bench", technique_name="afm", sample_id="B", mode=m.mode,
                             measurement_id=m.measurement_id, raw_sha256=f"{i:064d}", reader=reader.id,
                             params_id=params.id, flow_run_id="bench", processed_at=STAMP)
            write_unit(wh, spec, df, f"{i:064d}")
    return time.perf_counter() - t, time.process_time() - c


STAMP = datetime(2026, 1, 1, tzinfo=timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_maps, n_px = (8, 256) if args.quick else (100, 512)
    work = Path(tempfile.mkdtemp(prefix="afm-bench-"))
    try:
        paths = make_files(work, n_maps, n_px)
        (work / "base").mkdir()
        (work / "pipe").mkdir()
        t_base, cpu_base = baseline(paths, work / "base", n_px)
        t_pipe, cpu_pipe = pipeline(paths, work / "pipe")
        pixels = n_maps * n_px * n_px
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"maps={n_maps} size={n_px}x{n_px}x4 baseline_s={t_base:.2f} pipeline_s={t_pipe:.2f}")
        print(f"baseline_pixels_per_s={pixels / t_base:.3e} pipeline_pixels_per_s={pixels / t_pipe:.3e}")
        # CPU seconds of this process: less sensitive than wall time to other jobs on a shared machine
        print(f"baseline_cpu_s={cpu_base:.2f} pipeline_cpu_s={cpu_pipe:.2f} cpu_ratio={cpu_pipe / cpu_base:.2f}")
        print(f"maps={n_maps} pixels={pixels} pipeline_px_per_s={pixels / t_pipe:.0f} "
              f"baseline_px_per_s={pixels / t_base:.0f} peak_rss_mib={peak_mib:.0f} ratio={t_pipe / t_base:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
