"""Cycler reader benchmark: records/s of each echem reader on the largest real file it reads, against
the plainest fast way to get the same columns from that file (the library call, mdb-export + pyarrow,
or pyarrow's CSV reader), run side by side in this process. Last line: key=value pairs with ratio=.

    python bench/echem_cycler.py            # best of 7
    python bench/echem_cycler.py --quick    # best of 3

Each side is timed on wall clock and on CPU time (all threads of this process plus the waited-for
child processes, i.e. mdb-export), ours and the baseline alternating so machine load hits both alike,
best of N of each. On a shared, loaded machine wall time mostly measures the scheduler, so the
headline uses CPU time when the load average exceeds half the cores or the wall samples scatter by
more than 25 %; ``basis=`` on the last line says which was used.

The headline ``ratio=`` is the worst ours/baseline time over files of at least 5000 records; the tiny
Arbin CSV and Basytec files (287 and 74 records) are printed too but measure fixed per-file cost.
"""
from __future__ import annotations

import io
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL = Path(os.environ.get("SOCSCOPE_REAL_FIXTURES", ROOT / "tests" / "data" / "real")) / "echem"

from tasks.echem.plugin import READERS  # noqa: E402

# fastnda logs a clock-jump warning on every read of the Neware file (ours flags the jumps itself)
logging.getLogger("fastnda").setLevel(logging.ERROR)

BY_NAME = {r.name: r for r in READERS}
MIN_RECORDS = 5000


def _csv(path: Path, skip: int, delimiter: str, encoding: str = "utf8"):
    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(skip_rows=skip, encoding=encoding),
                          parse_options=pacsv.ParseOptions(delimiter=delimiter))


def baseline_mpr(path: Path):
    from galvani import BioLogic

    return BioLogic.MPRfile(str(path)).data


def baseline_nda(path: Path):
    import contextlib

    import fastnda

    with contextlib.redirect_stdout(io.StringIO()):
        return fastnda.read(str(path))


def baseline_res(path: Path):
    out = subprocess.run(["mdb-export", str(path), "Channel_Normal_Table"], capture_output=True, check=True).stdout
    return pacsv.read_csv(io.BytesIO(out)).sort_by("Data_Point")


def baseline_maccor(path: Path):
    # the export ends some rows with a tab and some without: pyarrow needs them made even first
    data = re.sub(rb"\t+(\r?\n)", rb"\1", path.read_bytes())
    return pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(skip_rows=13, encoding="latin-1"),
                          parse_options=pacsv.ParseOptions(delimiter="\t", ignore_empty_lines=True))


#: (case, reader, file under tests/data/real/echem, baseline, its function)
CASES = [
    ("biologic-mpr", "biologic/biol.mpr", "galvani MPRfile", baseline_mpr),
    # GCPL, 46k records: the case issue 22 names (canonical columns cost more than galvani's read)
    ("biologic-mpr-gcpl", "biologic/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr", "galvani MPRfile",
     baseline_mpr),
    ("biologic-text", "biologic/test_loopsnewoutput_MB_CE1_short10k.csv", "pyarrow csv",
     lambda p: _csv(p, 0, ";")),
    ("arbin-res", "arbin_gitt/20210210_FC_01_cc_02.res", "mdb-export + pyarrow csv", baseline_res),
    ("arbin-csv", "arbin/2017-05-09_test-TC-contact_CH33.csv", "pyarrow csv", lambda p: _csv(p, 0, ",")),
    ("neware-nda", "neware/20260302_IFE_BTS85_2_9_8_1.ndax", "fastnda.read", baseline_nda),
    ("neware-csv", "neware/neware_uio.csv", "pyarrow csv", lambda p: _csv(p, 0, ",")),
    ("maccor-text", "maccor/maccor_002.txt", "pyarrow csv (rows evened)", baseline_maccor),
    ("basytec-text", "other/sample_data_basytec.txt", "pyarrow csv", lambda p: _csv(p, 12, "\t", "latin-1")),
]


def cpu_now() -> float:
    """CPU seconds of this process (all threads) plus its finished child processes."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def best_pair(ours, base, repeats: int) -> dict[str, list[float]]:
    """Wall and CPU samples of each, interleaved (ours, base, base, ours, ...) so machine load and
    allocator state hit both alike."""
    samples: dict[str, list[float]] = {"ours_wall": [], "ours_cpu": [], "base_wall": [], "base_cpu": []}
    for r in range(repeats):
        pair = ((ours, "ours"), (base, "base"))
        for fn, side in (pair if r % 2 == 0 else pair[::-1]):
            c0, t0 = cpu_now(), time.perf_counter()
            fn()
            samples[f"{side}_wall"].append(time.perf_counter() - t0)
            samples[f"{side}_cpu"].append(cpu_now() - c0)
    return samples


def scatter(values: list[float]) -> float:
    """Relative spread of the samples: median over best, minus one."""
    return statistics.median(values) / min(values) - 1.0


def main() -> None:
    repeats = 3 if "--quick" in sys.argv else 7
    ncpu = os.cpu_count() or 1
    load0 = os.getloadavg()[0]
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    sizes: dict[str, int] = {}
    spread = 0.0
    print(f"{'reader':14s} {'file':44s} {'records':>8s} {'ours rec/s':>11s} {'base rec/s':>11s} {'wall':>5s} "
          f"{'cpu':>5s} {'ours cpu':>9s} {'base cpu':>9s}  baseline")
    for name, rel, label, base in CASES:
        path = REAL / rel
        reader = BY_NAME[name.removesuffix("-gcpl")]
        n = len(reader.read(path, {}).data)
        base(path)  # warm imports and caches for both sides
        # a tiny file reads in ~1 ms: more samples cost nothing and steady its best
        s = best_pair(lambda: reader.read(path, {}), lambda: base(path), repeats if n >= MIN_RECORDS else 5 * repeats)
        t_ours, t_base = min(s["ours_wall"]), min(s["base_wall"])
        c_ours, c_base = min(s["ours_cpu"]), min(s["base_cpu"])
        wall[name], cpu[name], sizes[name] = t_ours / t_base, c_ours / c_base, n
        if n >= MIN_RECORDS:
            spread = max(spread, scatter(s["ours_wall"]), scatter(s["base_wall"]))
        print(f"{name:14s} {rel[-44:]:44s} {n:8d} {n / t_ours:11.0f} {n / t_base:11.0f} {wall[name]:5.2f} "
              f"{cpu[name]:5.2f} {c_ours * 1e3:7.1f}ms {c_base * 1e3:7.1f}ms  {label}")
    load = max(load0, os.getloadavg()[0])
    noisy = load > 0.5 * ncpu or spread > 0.25
    basis = "cpu" if noisy else "wall"
    ratios = cpu if noisy else wall
    print(f"# load average {load:.1f} on {ncpu} cores, wall-time scatter {spread:.0%}: headline on {basis} time"
          + (" (wall too noisy)" if noisy else ""))
    # files of a few hundred records measure our fixed per-file cost (~ms), not throughput: the headline
    # ratio is the worst over files with at least MIN_RECORDS records; ratio_all includes the tiny ones
    big = {k: v for k, v in ratios.items() if sizes[k] >= MIN_RECORDS}
    worst = max(big, key=big.get)
    worst_all = max(ratios, key=ratios.get)
    pairs = " ".join(f"{k}={v:.2f}" for k, v in ratios.items())
    print(f"bench=cycler repeats={repeats} basis={basis} {pairs} worst={worst} ratio_all={ratios[worst_all]:.2f} "
          f"ratio_wall={max(v for k, v in wall.items() if sizes[k] >= MIN_RECORDS):.2f} "
          f"ratio_cpu={max(v for k, v in cpu.items() if sizes[k] >= MIN_RECORDS):.2f} ratio={big[worst]:.2f}")


if __name__ == "__main__":
    main()
