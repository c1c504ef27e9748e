"""NEXAFS benchmark: raw KARA Ni L scans (TEY + FY per file) -> reader -> the whole chain on a stack
(dark, /I0, reference-channel calibration, regrid, pre-edge + step, FY self-absorption, Ni L3
features with the Ni2+/Ni3+ linear combination) against parsing the same files with plain numpy.

    python bench/nexafs.py            # 5,000 files = 10,000 spectra
    python bench/nexafs.py --quick    # 500 files = 1,000 spectra
Last line: key=value pairs including ratio= (chain time incl. our parsing / plain parsing time).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.registry import load_params  # noqa: E402
from tasks.nexafs import demo as demo_mod  # noqa: E402
from tasks.nexafs.absorption import self_absorption_ratio  # noqa: E402
from tasks.nexafs.ascii_scan import BeamlineAsciiReader  # noqa: E402
from tasks.nexafs.features import edge_features  # noqa: E402
from tasks.nexafs.plugin import TECHNIQUE  # noqa: E402
from tasks.nexafs.reduce import reduce_scans, reference_peak_shift  # noqa: E402


def write_files(folder: Path, n_files: int, seed: int) -> list[Path]:
    paths = []
    for k in range(n_files):
        rng = np.random.default_rng([seed, k])
        x_tey, x_fy = rng.uniform(0.05, 0.6), rng.uniform(0.0, 0.35)
        p = folder / f"scan_{k:05d}.dat"
        demo_mod.write_scan(p, rng=rng, edge="Ni_L", sample="BENCH", role="sample", scan_no=k,
                            offset_ev=float(rng.uniform(-0.5, 0.5)),
                            true_tey=lambda e, x=x_tey: demo_mod.ni_l(e, x),
                            true_fy=lambda e, x=x_fy: demo_mod.ni_l(e, x), with_reference=True)
        paths.append(p)
    return paths


def plain_parse(paths: list[Path]) -> int:
    """The plainest fast code for the same input: numbers after the '#' header into an array."""
    n = 0
    for p in paths:
        text = p.read_text()
        body = text[text.rindex("\n#") + 1:]
        body = body[body.index("\n") + 1:]
        a = np.array(body.split(), dtype=float)
        n += a.size
    return n


def end_members(params: dict, folder: Path) -> np.ndarray:
    """Ni2+ and Ni3+ reference spectra through the same chain (TEY)."""
    reader = BeamlineAsciiReader()
    cfg = params["edges"]["Ni_L"]
    cal = params["calibration"]
    comps = []
    for frac in (1.0, 0.0):
        p = folder / f"ref_{frac}.dat"
        demo_mod.write_scan(p, rng=np.random.default_rng(int(frac)), edge="Ni_L", sample=None, role="reference",
                            scan_no=0, offset_ev=0.2, true_tey=lambda e, f=frac: demo_mod.ni_l(e, f), true_fy=None,
                            with_reference=True)
        (m,) = reader.read(p, {})
        d = m.data
        shift = reference_peak_shift(d["energy_ev"], d["ref"], d["i0"], np.array([m.meta["dark_ref"]]),
                                     np.array([m.meta["dark_i0"]]), cal["reference_channel_peak_ev"]["Ni_L"],
                                     tuple(cal["reference_channel_window"]["Ni_L"]))
        red = reduce_scans(cfg, d["energy_ev"], d["signal"], d["i0"], np.array([m.meta["dark_signal"]]),
                           np.array([m.meta["dark_i0"]]), shift)
        comps.append(red["mu_final"][0])
    return np.vstack(comps)


def whole_chain(paths: list[Path], params: dict, members: np.ndarray) -> int:
    reader = BeamlineAsciiReader()
    by_mode: dict[str, list] = {"TEY": [], "FY": []}
    for p in paths:
        for m in reader.read(p, {}):
            by_mode[m.mode].append(m)
    cfg, cal, sa = params["edges"]["Ni_L"], params["calibration"], params["self_absorption"]
    r_fy = self_absorption_ratio(sa["formula"], "Ni", "L3", *sa["below_above_ev"]["Ni_L"], sa["incidence_deg"],
                                 sa["exit_deg"])
    n = 0
    for mode, ms in by_mode.items():
        stack = {k: np.vstack([m.data[k] for m in ms]) for k in ("energy_ev", "signal", "i0", "ref")}
        dark = {k: np.array([m.meta[k] for m in ms]) for k in ("dark_signal", "dark_i0", "dark_ref")}
        shift = reference_peak_shift(stack["energy_ev"], stack["ref"], stack["i0"], dark["dark_ref"], dark["dark_i0"],
                                     cal["reference_channel_peak_ev"]["Ni_L"],
                                     tuple(cal["reference_channel_window"]["Ni_L"]))
        red = reduce_scans(cfg, stack["energy_ev"], stack["signal"], stack["i0"], dark["dark_signal"],
                           dark["dark_i0"], shift, r_fy if mode == "FY" else None)
        feats = edge_features("Ni_L", red["energy_ev"], red, cfg, params["features"], members)
        assert np.isfinite(feats["ni2_fraction"]).all()
        n += len(ms)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--files", type=int, default=None)
    args = ap.parse_args()
    n_files = args.files or (500 if args.quick else 5000)
    params = load_params(TECHNIQUE.default_params).values
    tmp = Path(tempfile.mkdtemp(prefix="bench_nexafs_"))
    try:
        t = time.perf_counter()
        paths = write_files(tmp, n_files, seed=622)
        members = end_members(params, tmp)
        print(f"wrote {n_files} raw scans ({n_files * 2} spectra) in {time.perf_counter() - t:.1f} s")
        plain_parse(paths[:50]), whole_chain(paths[:50], params, members)  # warm the page cache and imports
        t = time.perf_counter()
        plain_parse(paths)
        t_plain = time.perf_counter() - t
        t = time.perf_counter()
        n_spectra = whole_chain(paths, params, members)
        t_chain = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"plain numpy parse: {t_plain:.2f} s ({n_files / t_plain:.0f} files/s)")
    print(f"reader + whole chain + features: {t_chain:.2f} s ({n_spectra / t_chain:.0f} spectra/s)")
    print(f"spectra={n_spectra} files={n_files} plain_s={t_plain:.3f} chain_s={t_chain:.3f} "
          f"spectra_per_s={n_spectra / t_chain:.0f} ratio={t_chain / t_plain:.2f}")


if __name__ == "__main__":
    main()
