"""Per-file pipeline overhead: what the platform adds around a plugin's own work.

On the small demo campaign (SXPD patterns and NEXAFS spectra, after the whole campaign has run
once), every raw file of those techniques is processed again, one at a time, in two ways, in turn:

- ours: ``pipeline.process_file`` — what a Prefect task runs per file: local copy, parameter set,
  reader detection and read, the plugin's features (with its warehouse lookups), lineage stamping,
  validation against the table contracts, Parquet files with units in their metadata;
- baseline: the plainest code for the same I/O — the registered reader, the plugin's ``process``
  with its parameter set loaded once and its lookups answered from memory, and ``pyarrow.parquet.write_table`` of each frame.

The ratio is the platform's overhead factor per file. Usage: python bench/pipeline_files.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from foundation.contract import ProcessContext  # noqa: E402
from foundation.registry import params_for, read_measurements, technique  # noqa: E402
from socscope.demo import write_demo  # noqa: E402
from tasks import pipeline  # noqa: E402


def baseline_file(item, campaign, wh, params, answers: dict, out: Path) -> int:
    """Read, features and a plain Parquet write of one raw file; returns the rows written."""
    def query(sql: str, params=None):
        key = (sql, repr(params))
        if key not in answers:
            answers[key] = wh.query(sql, params)
        return answers[key]

    tech = technique(item.technique)
    _, measurements = read_measurements(Path(item.store_path), item.raw_sha256, item.original_name,
                                        technique_name=item.technique, sample_id=item.sample_id)
    rows = 0
    for m in measurements:
        ctx = ProcessContext(campaign, campaign.sample(item.sample_id), params, {}, query)
        for table, df in tech.process(m, ctx).items():
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out / f"{table}.parquet")
            rows += len(df)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="SXPD only, one pass")
    ap.add_argument("--passes", type=int, default=None, help="times every file is processed (default 3)")
    args = ap.parse_args()
    techniques = ["sxpd"] if args.quick else ["sxpd", "nexafs"]
    passes = args.passes or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="pipeline_bench_") as tmp:
        root = Path(tmp) / "demo"
        t0 = time.perf_counter()
        campaign = write_demo(root, "small", techniques=["echem", *techniques])
        pipeline.run_local(campaign, ["echem", *techniques], flow_run_id="bench-setup")
        print(f"demo campaign built and processed in {time.perf_counter() - t0:.1f} s")
        wh = pipeline.open_warehouse(campaign)
        out = Path(tmp) / "baseline"
        out.mkdir()
        figures = []
        for name in techniques:
            items = pipeline.pending_work(campaign, wh, name, force=True)
            answers: dict = {}
            params = params_for(campaign, name)
            # warm both paths (imports, first connection) before timing
            baseline_file(items[0], campaign, wh, params, answers, out)
            pipeline.process_file(items[0], campaign, wh.url, "bench")
            t_ours = t_base = 0.0
            n = 0
            for p in range(passes):
                for i, item in enumerate(items):
                    for side in (("base", "ours") if (i + p) % 2 == 0 else ("ours", "base")):
                        s0 = time.perf_counter()
                        if side == "base":
                            baseline_file(item, campaign, wh, params, answers, out)
                            t_base += time.perf_counter() - s0
                        else:
                            result = pipeline.process_file(item, campaign, wh.url, "bench")
                            t_ours += time.perf_counter() - s0
                            if result.event.status != "ok":
                                raise SystemExit(f"{item.original_name}: {result.event.reason}")
                    n += 1
            ours_ms, base_ms = 1000 * t_ours / n, 1000 * t_base / n
            print(f"{name}: {len(items)} files × {passes}: pipeline {ours_ms:.1f} ms/file, "
                  f"read + features + Parquet {base_ms:.1f} ms/file, overhead ×{ours_ms / base_ms:.2f}")
            figures.append((name, len(items), ours_ms, base_ms))
    total_ours = sum(k * o for _, k, o, _ in figures)
    total_base = sum(k * b for _, k, _, b in figures)
    parts = " ".join(f"{name}_files={k} {name}_pipeline_ms={o:.1f} {name}_baseline_ms={b:.1f}"
                     for name, k, o, b in figures)
    print(f"{parts} ratio={total_ours / total_base:.2f}")


if __name__ == "__main__":
    main()
