"""Demo generator: the operando first cycle of half7 (sample O-1) at I11, plus a Si standard.

Writes under ``<share_root>/sxpd/``:
- ``references/i11-<scan>_Si_standard.xye`` — the beamtime's Si standard (same λ and zero offset);
- ``O-1/i11-<scan>_O-1.xye`` (three patterns in four) and ``.nxs`` (GDA layout, every fourth):
  one pattern per scan following ``demo_world.OperandoProgram``; header times are beamline-local
  (Europe/London), as I11 writes them, and no wavelength is stored — it must come from the standard;
- ``O-1/fullprof_O-1.csv`` — an "external" refinement of every tenth pattern (truth + esd noise).
Ground truth under ``<truth_root>/sxpd/``: ``patterns_truth.csv`` (per file: time, SOC, branch, a, c,
strains, size) and ``calibration_truth.json``. The cycler file of half7 is the echem generator's.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from foundation.contract import DemoRequest
from tasks.demo_world import BEAMTIME_START, OperandoProgram, target
from tasks.sxpd.synthesis import (
    DEMO_CAGLIOTI_DEG2,
    DEMO_WAVELENGTH_ANGSTROM,
    DEMO_ZERO_OFFSET_DEG,
    Sample,
    counts,
    ncm_profile,
    silicon_profile,
)

SAMPLE_ID = "O-1"
EXPERIMENT = "cm40001-2"
FIRST_SCAN = 1500001
COUNTING_TIME_S = 30.0
LOCAL = ZoneInfo("Europe/London")
#: discharge retraces charge with a small hysteresis (in SOC %)
HYSTERESIS_PCT = 3.0


def profile_sizes(profile: str) -> dict[str, float]:
    if profile == "small":
        return {"n_patterns": 30, "step_deg": 0.002}
    return {"n_patterns": 320, "step_deg": 0.001}


def two_theta_axis(step_deg: float, start: float = 1.0, stop: float = 65.0) -> np.ndarray:
    return np.round(start + step_deg * np.arange(int(round((stop - start) / step_deg)) + 1), 6)


def sample_state(program: OperandoProgram, t_s: float) -> tuple[dict, Sample]:
    state = {k: np.asarray(v).item() for k, v in program.state(np.array([t_s])).items()}
    soc = state["soc_pct"]
    lattice_soc = min(soc + HYSTERESIS_PCT, 100.0) if state["branch"] == "discharge" else soc
    sample = Sample(float(target("a_angstrom", lattice_soc)), float(target("c_angstrom", lattice_soc)),
                    float(target("microstrain_c_pct", lattice_soc)))
    return state, sample


def local_time_text(t_utc: pd.Timestamp) -> str:
    """I11 writes beamline-local wall-clock times without a zone."""
    return t_utc.tz_convert(LOCAL).tz_localize(None).isoformat(timespec="milliseconds")


def xye_bytes(x: np.ndarray, y: np.ndarray, e: np.ndarray, header: dict[str, object]) -> bytes:
    """``# key: value`` header lines, then "2θ counts error" rows (Arrow's CSV writer: 10× savetxt)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    head = "".join(f"# {key}: {value}\n" for key, value in header.items()).encode()
    table = pa.table({"tth": np.round(x, 5), "counts": np.round(y).astype(np.int64), "error": np.round(e, 3)})
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, delimiter=" "))
    return head + buf.getvalue()


def write_nxs(path: Path, x: np.ndarray, y: np.ndarray, e: np.ndarray, meta: dict[str, object]) -> None:
    """GDA-like NeXus: /entry/xye summed pattern, /entry/diamond_scan times, no wavelength."""
    import h5py

    def text(group, name, value):
        group.create_dataset(name, data=np.bytes_(str(value)), track_times=False)

    with h5py.File(path, "w", track_order=False) as h5:
        h5.attrs["NX_class"] = np.bytes_("NXroot")
        entry = h5.create_group("entry")
        entry.attrs["NX_class"] = np.bytes_("NXentry")
        scan = entry.create_group("diamond_scan")
        scan.create_dataset("entry_identifier", data=np.int32(meta["scan_number"]), track_times=False)
        text(scan, "start_time", meta["start_time"])
        text(scan, "scan_command", "scan ds 1 1 1 mythen_nx 30")
        text(entry, "experiment_identifier", meta["experiment"])
        text(entry, "program_name", "GDA 9.40.0")
        inst = entry.create_group("instrument")
        text(inst, "beamline", "i11")
        detector = inst.create_group("mythen_nx")
        detector.create_dataset("count_time", data=np.array([float(meta["counting_time_s"])]), track_times=False)
        sample = entry.create_group("sample")
        text(sample, "name", meta["sample"])
        xye = entry.create_group("xye")
        for name, arr in (("tth", x), ("counts", y), ("error", e)):
            xye.create_dataset(name, data=arr, track_times=False)


def demo(req: DemoRequest) -> None:
    sizes = profile_sizes(req.profile)
    root = Path(req.share_root) / "sxpd"
    truth_dir = Path(req.truth_root) / "sxpd"
    (root / "references").mkdir(parents=True, exist_ok=True)
    (root / SAMPLE_ID).mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    program = OperandoProgram()
    start = pd.Timestamp(BEAMTIME_START)

    # the Si standard: measured before the cell is mounted, always at 0.001° steps
    x_std = two_theta_axis(0.001)
    rng = np.random.default_rng([req.seed, 0])
    y_std, e_std = counts(silicon_profile(x_std), rng)
    std_time = start - pd.Timedelta(minutes=45)
    header = {"beamline": "i11", "detector": "Mythen3", "experiment": EXPERIMENT, "scan_number": FIRST_SCAN - 1,
              "sample": "Si standard (NIST 640 type)", "start_time": local_time_text(std_time),
              "counting_time_s": 60.0}
    (root / "references" / f"i11-{FIRST_SCAN - 1}_Si_standard.xye").write_bytes(xye_bytes(x_std, y_std, e_std, header))
    (truth_dir / "calibration_truth.json").write_text(json.dumps(
        {"wavelength_angstrom": DEMO_WAVELENGTH_ANGSTROM, "zero_offset_deg": DEMO_ZERO_OFFSET_DEG,
         "caglioti_uvw_deg2": list(DEMO_CAGLIOTI_DEG2), "standard_a_angstrom": 5.431}, indent=1))

    n = int(sizes["n_patterns"])
    x = two_theta_axis(float(sizes["step_deg"]))
    interval = program.total_s / n
    rows = []
    for i in range(n):
        t_start = i * interval
        t_mid = t_start + COUNTING_TIME_S / 2.0
        state, sample = sample_state(program, t_mid)
        rng = np.random.default_rng([req.seed, i + 1])
        y, e = counts(ncm_profile(x, sample), rng)
        scan = FIRST_SCAN + i
        when = start + pd.Timedelta(seconds=t_start)
        meta = {"beamline": "i11", "detector": "Mythen3", "experiment": EXPERIMENT, "scan_number": scan,
                "sample": SAMPLE_ID, "start_time": local_time_text(when), "counting_time_s": COUNTING_TIME_S}
        if i % 4 == 3:
            name = f"i11-{scan}_{SAMPLE_ID}.nxs"
            write_nxs(root / SAMPLE_ID / name, x, y, e, meta)
        else:
            name = f"i11-{scan}_{SAMPLE_ID}.xye"
            (root / SAMPLE_ID / name).write_bytes(xye_bytes(x, y, e, meta))
        rows.append({"file": f"{SAMPLE_ID}/{name}", "scan_number": scan,
                     "measured_at": (start + pd.Timedelta(seconds=t_mid)).isoformat(), "time_s": t_mid,
                     "soc_pct": state["soc_pct"], "branch": state["branch"], "voltage_v": state["voltage_v"],
                     "a_angstrom": sample.a_angstrom, "c_angstrom": sample.c_angstrom,
                     "microstrain_c_pct": sample.microstrain_c_pct, "microstrain_a_pct": sample.microstrain_a_pct,
                     "size_nm": sample.size_nm})
    truth = pd.DataFrame(rows)
    truth.to_csv(truth_dir / "patterns_truth.csv", index=False, float_format="%.8g")

    # an external (FullProf-like) refinement of every tenth pattern, with realistic esds
    rng = np.random.default_rng([req.seed, 10_000])
    ext = truth.iloc[::10]
    a_esd = np.full(len(ext), 0.0001)
    c_esd = np.full(len(ext), 0.0005)
    table = pd.DataFrame({"Pattern": ext["file"].str.split("/").str[-1], "a": ext["a_angstrom"] + rng.normal(0, a_esd),
                          "a_esd": a_esd, "c": ext["c_angstrom"] + rng.normal(0, c_esd), "c_esd": c_esd,
                          "Strain": ext["microstrain_c_pct"], "Rwp": rng.uniform(6.0, 9.0, len(ext)).round(2),
                          "GOF": rng.uniform(1.1, 1.6, len(ext)).round(2)})
    body = table.to_csv(index=False, float_format="%.5f")
    (root / SAMPLE_ID / f"fullprof_{SAMPLE_ID}.csv").write_text("# program: FullProf (Le Bail for Al, Li)\n" + body)
