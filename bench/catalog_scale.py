"""Catalog at facility scale: a generated warehouse manifest of many data files, and what it costs to
publish, open and query it (docs/operations/facility-year.md).

    python bench/catalog_scale.py                 # 1e4, 1e5 and 1e6 files (~15 min; ~1 GB of directory entries)
    python bench/catalog_scale.py --quick         # 1e3 and 1e4 files
    python bench/catalog_scale.py --files 10000 100000 1000000 --scan-up-to 100000

``generate_warehouse`` writes a warehouse as the store lays it out (``data/<table>/technique=<t>/sample_id=<s>/
<unit>-<uuid>.parquet``): one real Parquet file per sample partition (a row of the table's contract), the
partition's other data files hard links to it, ``files_per_sample`` files per sample partition, and the MANIFEST.json
naming them all. Per size it measures:

- ``manifest_mib``, ``parse_s``: the manifest's size and ``Manifest.from_json``;
- ``catalog_s``, ``catalog_mib``: ``warehouse.catalog.write_catalog`` (views listing every file), and
  ``peak_rss_mib``, the process's memory high-water mark once the catalog is built;
- ``open_s``: ``open_catalog`` and binding the table's view (what a dashboard or `socscope query` pays first);
- ``scan_s``: one sample's rows through today's view (``count(*) ... where sample_id = ?``);
- ``pruned_s``: the same on a view over the same list with ``hive_partitioning = true`` (the proposal:
  the partition keys in the paths prune files without opening them);
- ``plain_s``: the baseline, plain DuckDB ``read_parquet`` of that one partition's folder.

Last line: key=value pairs; ``ratio=`` is scan_s / plain_s at the largest size scanned (``ratio_files``;
how much more reading one sample costs through the catalog than reading its partition directly;
lower is better), with ``open_ratio`` = open_s at the largest size / at the smallest.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLE = "afm_pixels"
TECHNIQUE = "afm"
ARROW_TYPES = {"string": "string", "int64": "int64", "int32": "int32", "float64": "float64", "float32": "float32",
               "bool": "bool_"}


def template_table(spec, sample_id: str):
    """One row of ``spec``'s columns (nulls but its partition keys), typed as the contract says."""
    import pyarrow as pa

    arrays = {}
    for col in spec.all_columns:
        kind = pa.timestamp("us", tz="UTC") if col.dtype == "timestamp" else getattr(pa, ARROW_TYPES[col.dtype])()
        value = {"technique": TECHNIQUE, "sample_id": sample_id}.get(col.name)
        arrays[col.name] = pa.array([value], type=kind)
    return pa.table(arrays)


def sample_name(i: int) -> str:
    return f"S{i:06d}"


def generate_warehouse(root: Path, n_files: int, files_per_sample: int = 100, table: str = TABLE):
    """A warehouse at ``root`` whose manifest names ``n_files`` data files of ``table`` (see the module
    docstring); returns the Manifest written."""
    import hashlib

    import pyarrow.parquet as pq

    from schemas.core import schema_digest
    from warehouse.catalog import table_spec
    from warehouse.manifest import FileEntry, Manifest
    from warehouse.store import MANIFEST

    spec = table_spec(table)
    digest = schema_digest(spec)
    entries = []
    for i in range(n_files):
        sample = sample_name(i // files_per_sample)
        folder = f"data/{table}/technique={TECHNIQUE}/sample_id={sample}"
        rel = f"{folder}/{i:012x}-{uuid.uuid4().hex[:12]}.parquet"
        if i % files_per_sample == 0:  # the partition's first file is real, its others link to it
            (root / folder).mkdir(parents=True, exist_ok=True)
            pq.write_table(template_table(spec, sample), root / rel)
            template, sha = root / rel, hashlib.sha256((root / rel).read_bytes()).hexdigest()
        else:
            os.link(template, root / rel)
        entries.append(FileEntry(rel, f"{TECHNIQUE}:{i:064x}:params", 1, digest, sha))
    manifest = Manifest(version=1, tables={table: entries}, created_at="2026-01-01T00:00:00+00:00",
                        flow_run_id="generated")
    (root / MANIFEST).write_text(manifest.to_json())
    return manifest


def measure(root: Path, n_files: int, files_per_sample: int, scan: bool) -> dict[str, float]:
    import duckdb

    from warehouse.catalog import (
        open_catalog,
        table_spec,
        table_view_sql,
        write_catalog,
    )
    from warehouse.manifest import Manifest
    from warehouse.store import MANIFEST, Warehouse

    t0 = time.perf_counter()
    generate_warehouse(root, n_files, files_per_sample)
    out = {"files": n_files, "gen_s": time.perf_counter() - t0}
    text = (root / MANIFEST).read_text()
    out["manifest_mib"] = len(text) / 2**20
    t0 = time.perf_counter()
    manifest = Manifest.from_json(text)
    out["parse_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    catalog = write_catalog(Warehouse(str(root)), manifest)
    out["catalog_s"] = time.perf_counter() - t0
    out["catalog_mib"] = catalog.stat().st_size / 2**20
    # the process's high-water mark so far (sizes run smallest first, so it is this size's)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    con = open_catalog(root)
    con.execute(f'select * from "{TABLE}" limit 0').fetchall()
    out["open_s"] = time.perf_counter() - t0
    sample = sample_name(n_files // files_per_sample // 2)
    query = f'select count(*) from "{TABLE}" where sample_id = ?'
    if scan:
        out["scan_s"], rows = _timed(lambda: con.execute(query, [sample]).fetchone()[0])
        assert rows == files_per_sample, (rows, files_per_sample)
    con.close()
    files = [str(root / e.path) for e in manifest.tables[TABLE]]
    pruned = duckdb.connect()
    pruned.execute(table_view_sql(table_spec(TABLE), files).replace("hive_partitioning = false",
                                                                     "hive_partitioning = true"))
    out["pruned_s"], rows = _timed(lambda: pruned.execute(query, [sample]).fetchone()[0])
    assert rows == files_per_sample, (rows, files_per_sample)
    pruned.close()
    folder = root / f"data/{TABLE}/technique={TECHNIQUE}/sample_id={sample}"
    plain = duckdb.connect()
    out["plain_s"], rows = _timed(lambda: plain.execute("select count(*) from read_parquet(?)",
                                                        [f"{folder}/*.parquet"]).fetchone()[0])
    assert rows == files_per_sample, (rows, files_per_sample)
    return out


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e3 and 1e4 files")
    ap.add_argument("--files", nargs="+", type=int, help="sizes (default 1e4, 1e5 and 1e6)")
    ap.add_argument("--files-per-sample", type=int, default=100)
    ap.add_argument("--scan-up-to", type=int, default=100_000,
                    help="the scan through today's view (it opens every file: ~12 min at 1e6 on 2 loaded cores) "
                         "only up to this many files")
    args = ap.parse_args()
    sizes = args.files or ([1_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000])
    load = os.getloadavg()[0]
    results = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix="catalog-scale-"))
        try:
            r = measure(work / "warehouse", n, args.files_per_sample, n <= args.scan_up_to)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results.append(r)
        print(" ".join(f"{k}={v:.4g}" for k, v in r.items()), flush=True)
        load = max(load, os.getloadavg()[0])
    small, big = results[0], results[-1]
    figures = " ".join(f"{k}_{big['files']:.0e}={v:.4g}".replace("+0", "") for k, v in big.items() if k != "files")
    scanned = [r for r in results if "scan_s" in r]
    at = scanned[-1] if scanned else {"files": 0, "scan_s": float("nan"), "plain_s": 1.0}
    print(f"# load average up to {load:.1f} on {os.cpu_count()} cores")
    print(f"bench=catalog_scale {figures} open_ratio={big['open_s'] / small['open_s']:.1f} "
          f"pruned_ratio={big['pruned_s'] / big['plain_s']:.2f} load={load:.1f} ratio_files={at['files']} "
          f"ratio={at['scan_s'] / at['plain_s']:.2f}")


if __name__ == "__main__":
    main()
