"""AFM benchmark: N Asylum maps (512x512 x 4 channels) through the production path of a file, against
the plainest fast code, map by map, the two sides alternating (A/B, B/A) so machine load hits both alike.

- ours: read -> the plugin's features -> for every table it returns: lineage stamping
  (tasks.pipeline.stamp_frame) and warehouse.store.write_unit (contract validation of every table, the
  per-pixel one included, Arrow cast with units in the metadata, Parquet);
- baseline: numpy on the raw float32 bytes of the file, the four channels written with pyarrow.

The write stage is also timed on its own: ours (stamp + validate + write of every table) against
``pa.Table.from_pandas`` of the same frames, the same lineage columns (``pa.repeat``) and
``pq.write_table`` with the writer settings the warehouse uses (zstd, dictionary on text): ``store_ratio``.

    python bench/afm.py            # 100 maps of 512x512
    python bench/afm.py --quick    # 8 maps of 256x256
Figures are medians per map, wall and CPU time of this process. The headline ``ratio=`` (ours / baseline,
end to end) is on CPU time when the load average exceeds half the cores (a shared machine: wall time
measures the scheduler), ``basis=`` says which. Last line: key=value pairs.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
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
from schemas.afm import TABLES  # noqa: E402
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


class Clock:
    """Wall and CPU seconds of this process, per labelled stage, one sample per map."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float]]] = {}

    def timed(self, label: str, fn, *args):
        t, c = time.perf_counter(), time.process_time()
        out = fn(*args)
        self.samples.setdefault(label, []).append((time.perf_counter() - t, time.process_time() - c))
        return out

    def median(self, label: str, cpu: bool) -> float:
        return statistics.median(s[cpu] for s in self.samples[label])


def baseline(path: Path, out: Path, n_px: int) -> None:
    """Plainest fast code: numpy view of the raw float32 block after the 384-byte v5 headers."""
    raw = np.fromfile(path, dtype="<f4", count=n_px * n_px * 4, offset=384).reshape(4, n_px, n_px)
    pq.write_table(pa.table({name: raw[k].ravel() for k, name in enumerate(CHANNELS)}), out / f"raw_{path.stem}.parquet")


class Pipeline:
    """The production path of a file, as tasks.pipeline.compute_file and process_file_here run it."""

    def __init__(self, out: Path):
        from tasks.afm.process import process

        self.process = process
        params = load_params(Path(__file__).resolve().parents[1] / "tasks/afm/params/default.yaml")
        self.params = params
        self.ctx = ProcessContext(campaign=None, sample=None, params=params, options={}, query=lambda sql: None)
        self.specs = {spec.name: spec for spec in TABLES}
        self.wh = Warehouse(str(out / "ours"))
        self.plain = out / "plain"
        self.plain.mkdir()
        # one-off start-up outside the timed loop (as the baseline's imports are): the registry imports
        # every technique plugin on its first detection, the writer's contract imports pandera
        all_readers()
        for spec in self.specs.values():
            _pandera_schema(spec)

    def compute(self, i: int, path: Path):
        reader, (m,) = read_measurements(path, f"{i:064d}", path.name, technique_name="afm")
        return reader, m, self.process(m, self.ctx)

    def lineage(self, i: int, reader, m) -> dict:
        return dict(campaign="bench", technique_name="afm", sample_id="B", mode=m.mode,
                    measurement_id=m.measurement_id, raw_sha256=f"{i:064d}", reader=reader.id,
                    params_id=self.params.id, flow_run_id="bench", processed_at=STAMP)

    def store(self, i: int, frames: dict, lineage: dict) -> None:
        """Stamp, validate against the contract and write every table (warehouse.store.write_unit)."""
        for name, df in frames.items():
            write_unit(self.wh, self.specs[name], stamp_frame(df, **lineage), f"{i:064d}")

    def plain_store(self, i: int, frames: dict, lineage: dict) -> None:
        """The same columns written with plain pyarrow: no stamping frame, no validation, no metadata."""
        constant = {"technique" if k == "technique_name" else k: v for k, v in lineage.items()}
        for name, df in frames.items():
            table = pa.Table.from_pandas(df, preserve_index=False)
            for column, value in constant.items():
                if column not in table.column_names:
                    table = table.append_column(column, pa.repeat(pa.scalar(value), len(df)))
            text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_dictionary(f.type)]
            pq.write_table(table, self.plain / f"{name}_{i}.parquet", compression="zstd", use_dictionary=text)


def run(paths: list[Path], work: Path, n_px: int) -> Clock:
    clock = Clock()
    pipe = Pipeline(work)
    (work / "base").mkdir()
    for i, path in enumerate(paths):
        for side in (("base", "ours") if i % 2 == 0 else ("ours", "base")):
            if side == "base":
                clock.timed("baseline", baseline, path, work / "base", n_px)
                continue
            reader, m, frames = clock.timed("read_features", pipe.compute, i, path)
            lineage = pipe.lineage(i, reader, m)
            for label, store in (("store", pipe.store), ("plain_store", pipe.plain_store))[::1 - 2 * (i % 2)]:
                clock.timed(label, store, i, frames, lineage)
            # ours end to end: read and features, then our store (the plain store is not part of it)
            (rw, rc), (sw, sc) = clock.samples["read_features"][-1], clock.samples["store"][-1]
            clock.samples.setdefault("pipeline", []).append((rw + sw, rc + sc))
    return clock


STAMP = datetime(2026, 1, 1, tzinfo=timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_maps, n_px = (8, 256) if args.quick else (100, 512)
    work = Path(tempfile.mkdtemp(prefix="afm-bench-"))
    load0 = os.getloadavg()[0]
    try:
        paths = make_files(work, n_maps, n_px)
        clock = run(paths, work, n_px)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = max(load0, os.getloadavg()[0])
    basis = "cpu" if load > 0.5 * (os.cpu_count() or 1) else "wall"
    ms = {f"{label}_{kind}_ms": 1000 * clock.median(label, kind == "cpu")
          for label in ("baseline", "pipeline", "read_features", "store", "plain_store") for kind in ("wall", "cpu")}
    ratio_wall = ms["pipeline_wall_ms"] / ms["baseline_wall_ms"]
    ratio_cpu = ms["pipeline_cpu_ms"] / ms["baseline_cpu_ms"]
    store_ratio = ms[f"store_{basis}_ms"] / ms[f"plain_store_{basis}_ms"]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# medians per map of {n_maps} maps of {n_px}x{n_px}x4; load average {load:.1f} on {os.cpu_count()} cores: "
          f"headline on {basis} time")
    print("# " + " ".join(f"{k}={v:.1f}" for k, v in ms.items()))
    print(f"maps={n_maps} pixels={n_maps * n_px * n_px} baseline_ms={ms[f'baseline_{basis}_ms']:.1f} "
          f"pipeline_ms={ms[f'pipeline_{basis}_ms']:.1f} read_features_ms={ms[f'read_features_{basis}_ms']:.1f} "
          f"store_ms={ms[f'store_{basis}_ms']:.1f} plain_store_ms={ms[f'plain_store_{basis}_ms']:.1f} "
          f"store_ratio={store_ratio:.2f} ratio_wall={ratio_wall:.2f} ratio_cpu={ratio_cpu:.2f} "
          f"peak_rss_mib={peak_mib:.0f} load={load:.1f} basis={basis} ratio={ratio_cpu if basis == 'cpu' else ratio_wall:.2f}")


if __name__ == "__main__":
    main()
