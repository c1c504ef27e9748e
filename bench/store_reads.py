"""Reading back many small data files from an object store: a query over a view of a table's files, cold
(a process that has read none of them: a finalize reading back what the stage wrote), through the
warehouse (``Warehouse.query``: DuckDB over warehouse/written_once.py), against pyarrow's own S3 reader
(``pyarrow.dataset`` over the same files, its C++ filesystem and thread pool: the plainest fast code
for the same read). The store is moto's S3 server in a process of its own, each request answered
``--latency-ms`` later, as a store across a network answers (0: the loopback store of bench/scale.py).

    python bench/store_reads.py                  # 322 files (the full demo's SXPD patterns), 20 ms, 5 pairs
    python bench/store_reads.py --quick          # 64 files, 3 pairs
    python bench/store_reads.py --latency-ms 0

Last line: key=value pairs; ``ratio=`` ours / pyarrow on wall time (medians of alternating pairs);
``*_cpu_s``: the reader's (this process's) CPU.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from as_a_user import free_port  # noqa: E402

BUCKET = "socscope-reads"
COLUMNS = ["flow_run_id", "campaign", "step"]


#: moto's S3 server in a process of its own (as a store is: its CPU beside the reader's, not in its
#: way), each request answered ``sys.argv[2]`` s late; it prints "ready" once it serves
STORE = """
import sys, time
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
app, latency = server._server.app, float(sys.argv[2])
def late(environ, start_response):
    time.sleep(latency)
    return app(environ, start_response)
server._server.app = late
print("ready", flush=True)
sys.stdin.read()
server.stop()
"""


def start_store(latency_s: float) -> tuple[subprocess.Popen, int]:
    """moto's S3 server in a process of its own, answering each request ``latency_s`` late, with the bucket."""
    import boto3

    port = free_port()
    store = subprocess.Popen([sys.executable, "-c", STORE, str(port), str(latency_s)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if store.stdout.readline().strip() != "ready":
        raise SystemExit("moto's S3 server did not start (is moto installed? pip install -e '.[test]')")
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="bench",
                 aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return store, port


def options(port: int) -> dict:
    return {"key": "bench", "secret": "bench",
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}}


def write_files(url: str, port: int, n: int) -> list[str]:
    """``n`` data files of one table (a row each), committed as the pipeline commits them; their keys."""
    import pandas as pd

    from schemas.platform import FLOW_RUNS
    from warehouse.store import Warehouse, unit_key

    wh = Warehouse(url, options(port))
    row = {c.name: None for c in FLOW_RUNS.all_columns}
    tx = wh.transaction("bench")
    for i in range(n):
        tx.put(FLOW_RUNS, pd.DataFrame([{**row, "flow_run_id": f"r{i:05d}", "campaign": "c", "step": "s"}]),
               unit_key("bench", i))
    tx.commit()
    return [f"{wh.root}/{e.path}" for e in wh.manifest().tables["flow_runs"]]


def ours(url: str, port: int) -> int:
    from warehouse.store import Warehouse

    return len(Warehouse(url, options(port)).query(f"select {', '.join(COLUMNS)} from flow_runs"))


def plain(keys: list[str], port: int) -> int:
    import pyarrow.dataset as ds
    from pyarrow import fs

    s3 = fs.S3FileSystem(access_key="bench", secret_key="bench", endpoint_override=f"127.0.0.1:{port}",
                         scheme="http", region="us-east-1")
    return ds.dataset(keys, format="parquet", filesystem=s3).to_table(columns=COLUMNS).num_rows


def timed(fn) -> tuple[float, float, int]:
    t0, c0 = time.perf_counter(), time.process_time()
    rows = fn()
    return time.perf_counter() - t0, time.process_time() - c0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="64 files, 3 pairs")
    ap.add_argument("--files", type=int, default=None)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--pairs", type=int, default=None)
    args = ap.parse_args()
    n = args.files or (64 if args.quick else 322)
    pairs = args.pairs or (3 if args.quick else 5)
    store, port = start_store(args.latency_ms / 1000)
    try:
        url = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}/wh"
        keys = write_files(url, port, n)
        ours(url, port), plain(keys, port)  # imports and connections, not timed
        runs: dict[str, list[tuple[float, float, int]]] = {"ours": [], "pyarrow": []}
        for _ in range(pairs):
            runs["ours"].append(timed(lambda: ours(url, port)))
            runs["pyarrow"].append(timed(lambda: plain(keys, port)))
    finally:
        store.communicate("")
    rows = {name: {r[2] for r in rs} for name, rs in runs.items()}
    if rows != {"ours": {n}, "pyarrow": {n}}:
        raise SystemExit(f"rows read differ from the {n} written: {rows}")
    med = {name: [statistics.median(r[i] for r in rs) for i in range(2)] for name, rs in runs.items()}
    for name, (wall, cpu) in med.items():
        print(f"{name:8s} {n} files at {args.latency_ms:g} ms: {wall * 1000:8.1f} ms wall, {cpu * 1000:7.1f} ms cpu "
              f"(the reader's; the store's is its own)")
    print(f"bench=store_reads files={n} latency_ms={args.latency_ms:g} pairs={pairs} "
          f"ours_s={med['ours'][0]:.3f} pyarrow_s={med['pyarrow'][0]:.3f} ours_cpu_s={med['ours'][1]:.3f} "
          f"pyarrow_cpu_s={med['pyarrow'][1]:.3f} ratio={med['ours'][0] / med['pyarrow'][0]:.2f}")


if __name__ == "__main__":
    main()
