"""`socscope query` benchmark: a one-row question on the demo warehouse, as a user runs it (a whole
process, output to a pipe), against plain DuckDB answering the same SQL on the same Parquet files
(``python -c 'import duckdb; ...'``, a whole process too). Alternating A/B, medians.

    python bench/query.py                      # builds the small demo first (--local; not timed), 15 pairs
    python bench/query.py --quick              # 5 pairs
    python bench/query.py --config demo/campaign.yaml   # an existing demo warehouse

Goal (issue 22): ours <= 0.3 s wall. Last line: key=value pairs, ``ratio=`` ours / plain on wall time;
``*_cpu_s`` are user + system seconds of the process, steadier than wall time on a loaded machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from as_a_user import keep_bytecode  # noqa: E402

#: one row, from a table of the campaign (raw_files: one Parquet file after the demo)
SQL = "select count(*) as files, sum(size_bytes) as bytes from raw_files"
PLAIN = ("import sys, duckdb; print(duckdb.sql(sys.argv[1].replace('raw_files', "
         "'read_parquet(' + repr(sys.argv[2:]) + ')')).fetchall())")


def timed(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one whole process, and what it printed (checked by the caller)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    c0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return wall, cpu, done.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def demo_config(work: Path) -> Path:
    """A small demo warehouse, built the way a user builds it (not timed)."""
    timed([sys.executable, "-m", "socscope.cli", "demo", "--dir", str(work / "demo"), "--local"], work)
    return work / "demo" / "campaign.yaml"


def raw_files_paths(config: Path) -> list[str]:
    root = config.parent / "warehouse"
    manifest = json.loads((root / "MANIFEST.json").read_text())
    return [str(root / e["path"]) for e in manifest["tables"]["raw_files"] if e["rows"] > 0]


def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 pairs instead of 15")
    ap.add_argument("--config", help="campaign.yaml of an existing demo (default: build one in a temp folder)")
    args = ap.parse_args()
    pairs = 5 if args.quick else 15
    work = Path(tempfile.mkdtemp(prefix="query-bench-"))
    load0 = os.getloadavg()[0]
    try:
        config = Path(args.config).resolve() if args.config else demo_config(work)
        ours_argv = [sys.executable, "-m", "socscope.cli", "query", "--config", str(config), SQL]
        plain_argv = [sys.executable, "-c", PLAIN, SQL, *raw_files_paths(config)]
        ours, plain = [], []
        timed(ours_argv, work), timed(plain_argv, work)  # warm-up, not counted: bytecode written, files cached
        for _ in range(pairs):
            ours.append(timed(ours_argv, work))
            plain.append(timed(plain_argv, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    answer, expected = ours[0][2].splitlines()[-1].split("\t"), plain[0][2].strip()
    if f"[({answer[0]}, {answer[1]})]" != expected:  # the same answer, or the comparison means nothing
        raise SystemExit(f"answers differ: ours {answer}, plain DuckDB {expected}")
    med = {k: statistics.median(r[0] for r in runs) for k, runs in (("ours", ours), ("plain", plain))}
    cpu = {k: statistics.median(r[1] for r in runs) for k, runs in (("ours", ours), ("plain", plain))}
    load = max(load0, os.getloadavg()[0])
    print(f"ours  (socscope query, to a pipe): wall {med['ours']:.3f} s  cpu {cpu['ours']:.3f} s")
    print(f"plain (python -c duckdb.sql):      wall {med['plain']:.3f} s  cpu {cpu['plain']:.3f} s")
    print(f"# {pairs} alternating pairs, medians; load average {load:.1f} on {os.cpu_count()} cores")
    print(f"bench=query pairs={pairs} ours_s={med['ours']:.3f} plain_s={med['plain']:.3f} "
          f"ours_cpu_s={cpu['ours']:.3f} plain_cpu_s={cpu['plain']:.3f} cpu_ratio={cpu['ours'] / cpu['plain']:.3f} "
          f"load={load:.1f} "
          f"ratio={med['ours'] / med['plain']:.3f}")


if __name__ == "__main__":
    main()
