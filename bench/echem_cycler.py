"""Cycler reader benchmark: records/s of each echem reader on the largest real file it reads, against
the plainest fast way to get the same columns from that file (the library call, mdb-export + pyarrow,
or pyarrow's CSV reader), run side by side in this process. Last line: key=value pairs with ratio=.

    python bench/echem_cycler.py            # best of 5
    python bench/echem_cycler.py --quick    # best of 2

The headline ``ratio=`` is the worst ours/baseline time over files of at least 5000 records; the tiny
Arbin CSV and Basytec files (287 and 74 records) are printed too but measure fixed per-file cost.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL = Path(os.environ.get("SOCSCOPE_REAL_FIXTURES", ROOT.parent / "shared" / "fixtures" / "real")) / "echem"

from tasks.echem.plugin import READERS  # noqa: E402

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


CASES = [
    ("biologic-mpr", "biologic/biol.mpr", "galvani MPRfile", baseline_mpr),
    ("biologic-text", "biologic/test_loopsnewoutput_MB_CE1_short10k.csv", "pyarrow csv",
     lambda p: _csv(p, 0, ";")),
    ("arbin-res", "arbin_gitt/20210210_FC_01_cc_02.res", "mdb-export + pyarrow csv", baseline_res),
    ("arbin-csv", "arbin/2017-05-09_test-TC-contact_CH33.csv", "pyarrow csv", lambda p: _csv(p, 0, ",")),
    ("neware-nda", "neware/20260302_IFE_BTS85_2_9_8_1.ndax", "fastnda.read", baseline_nda),
    ("neware-csv", "neware/neware_uio.csv", "pyarrow csv", lambda p: _csv(p, 0, ",")),
    ("maccor-text", "maccor/maccor_002.txt", "pyarrow csv (rows evened)", baseline_maccor),
    ("basytec-text", "other/sample_data_basytec.txt", "pyarrow csv", lambda p: _csv(p, 12, "\t", "latin-1")),
]


def best_pair(ours, base, repeats: int) -> tuple[float, float]:
    """Best time of each, alternating ours and the baseline so machine load hits both alike."""
    t_ours, t_base = [], []
    for _ in range(repeats):
        for fn, acc in ((ours, t_ours), (base, t_base)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return min(t_ours), min(t_base)


def main() -> None:
    repeats = 2 if "--quick" in sys.argv else 5
    ratios: dict[str, float] = {}
    sizes: dict[str, int] = {}
    print(f"{'reader':14s} {'file':44s} {'records':>8s} {'ours rec/s':>12s} {'base rec/s':>12s} {'ratio':>6s}  baseline")
    for name, rel, label, base in CASES:
        path = REAL / rel
        reader = BY_NAME[name]
        n = len(reader.read(path, {}).data)
        base(path)  # warm imports and caches for both sides
        t_ours, t_base = best_pair(lambda: reader.read(path, {}), lambda: base(path), repeats)
        ratios[name] = t_ours / t_base
        sizes[name] = n
        print(f"{name:14s} {rel[-44:]:44s} {n:8d} {n / t_ours:12.0f} {n / t_base:12.0f} {ratios[name]:6.2f}  {label}")
    # files of a few hundred records measure our fixed per-file cost (~ms), not throughput: the headline
    # ratio is the worst over files with at least MIN_RECORDS records; ratio_all includes the tiny ones
    big = {k: v for k, v in ratios.items() if sizes[k] >= MIN_RECORDS}
    worst = max(big, key=big.get)
    worst_all = max(ratios, key=ratios.get)
    pairs = " ".join(f"{k}={v:.2f}" for k, v in ratios.items())
    print(f"bench=cycler repeats={repeats} {pairs} worst={worst} ratio_all={ratios[worst_all]:.2f} "
          f"ratio={big[worst]:.2f}")


if __name__ == "__main__":
    main()
