"""Outputs of the SXPD peak fit on fixed patterns, for the equivalence test of ``test_peakfit_split``.

This is a refactor guard, not a correctness test: it records what the peak fit computed at commit
973935a (before ``peakfit._fit_bucket`` was split into parts) so that a restructuring which is
meant to change nothing can be checked to change no bit. Correctness is tested against known
answers in ``test_fitting.py``, ``test_calibration.py`` and the end-to-end tests.

Cases: the first patterns of ``bench/sxpd.py`` (same generator, seeds and .xye round trip through
the registered reader), the demo-truth patterns of ``test_fitting``, the demo's Si standard through
``calibrate``, and ``fit_groups`` called again on a bench pattern's windows with the options that
the analysis leaves at their defaults. Recorded: every
``fit_groups`` result inside the pattern analysis and the calibration (both passes), and the
analysis' and calibration's own outputs (lattice, strain, peak table).

Regenerate (only when a change of the fit's numbers is intended, and say so in the commit):
    PYTHONPATH=. python -m tests.sxpd.peakfit_reference
Bitwise results also depend on numpy's and the BLAS library's version (and the CPU's vector
instructions): after such an upgrade, regenerate it with the fitting code of a commit that passed.
"""
from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).resolve().parent / "data" / "peakfit_reference.npz"
#: the commit whose peak fit produced REFERENCE
MADE_AT_COMMIT = "973935a"
#: patterns of bench/sxpd.py recorded (its first ones: the seeds do not depend on the run's size)
N_BENCH_PATTERNS = 12
BENCH_SEED = 622
DEMO_SOCS = (0.0, 50.0, 90.0, 100.0)


def flatten(prefix: str, value: Any, out: dict[str, np.ndarray]) -> None:
    """Every array, number and string inside ``value`` (dataclasses, dicts, lists) as ``out[prefix/...]``."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            flatten(f"{prefix}/{f.name}", getattr(value, f.name), out)
    elif isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}/{key}", item, out)
    elif value is None:
        out[f"{prefix}#None"] = np.array(True)
    else:
        out[prefix] = np.asarray(value)


@contextmanager
def recording_fit_groups() -> Iterator[list]:
    """Every ``fit_groups`` call of the analysis and the calibration: (args, kwargs, result) in call order."""
    from tasks.sxpd import analysis, calibration

    originals = analysis.fit_groups, calibration.fit_groups
    results: list = []

    def wrap(fit: Callable) -> Callable:
        def recorded(*args, **kwargs):
            result = fit(*args, **kwargs)
            results.append((args, kwargs, result))
            return result
        return recorded

    analysis.fit_groups, calibration.fit_groups = wrap(originals[0]), wrap(originals[1])
    try:
        yield results
    finally:
        analysis.fit_groups, calibration.fit_groups = originals


def _record(name: str, run: Callable[[], Any], out: dict[str, np.ndarray]) -> list:
    """Record ``run()``'s result and every ``fit_groups`` call inside it; returns the calls."""
    with recording_fit_groups() as fits:
        result = run()
    flatten(name, result, out)
    for i, (_, _, fit) in enumerate(fits):
        flatten(f"{name}/fit_groups[{i}]", fit, out)
    return fits


def _bench_patterns() -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """The first patterns of ``bench/sxpd.py``, written as .xye and read back as the bench does."""
    from foundation.registry import technique
    from tasks.demo_world import target
    from tasks.sxpd.demo import two_theta_axis, xye_bytes
    from tasks.sxpd.synthesis import Sample, counts, ncm_profile

    reader = next(r for r in technique("sxpd").readers if r.name == "i11-xye")
    x = two_theta_axis(0.001)
    socs = np.random.default_rng(BENCH_SEED).uniform(0.0, 100.0, N_BENCH_PATTERNS)
    with tempfile.TemporaryDirectory(prefix="peakfit_reference_") as tmp:
        for i in range(N_BENCH_PATTERNS):
            sample = Sample(float(target("a_angstrom", socs[i])), float(target("c_angstrom", socs[i])),
                            float(target("microstrain_c_pct", socs[i])))
            y, e = counts(ncm_profile(x, sample), np.random.default_rng([BENCH_SEED, i]))
            path = Path(tmp) / f"i11-{1600000 + i}_bench.xye"
            header = {"beamline": "i11", "detector": "Mythen3", "experiment": "cm40001-2",
                      "scan_number": 1600000 + i, "sample": "O-1", "start_time": "2026-05-04T10:00:00.000",
                      "counting_time_s": 30.0}
            path.write_bytes(xye_bytes(x, y, e, header))
            yield f"bench[{i}]", reader.read(path, {}).data


def _demo_patterns() -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """The patterns of ``test_fitting.test_pattern_analysis_recovers_demo_truth``."""
    from tasks.demo_world import target
    from tasks.sxpd.synthesis import Sample, counts, ncm_profile

    x = np.round(np.arange(1.0, 65.0, 0.002), 6)
    for soc in DEMO_SOCS:
        truth = Sample(float(target("a_angstrom", soc)), float(target("c_angstrom", soc)),
                       float(target("microstrain_c_pct", soc)))
        y, s = counts(ncm_profile(x, truth), np.random.default_rng(int(soc)))
        yield f"demo_soc{soc:g}", {"two_theta_deg": x, "intensity_counts": y, "sigma_counts": s}


#: options the analysis leaves at their defaults, for direct ``fit_groups`` calls on its own windows
DIRECT_OPTIONS = {
    "no_linear_start": {"linear_start": False},
    "no_iterations": {"max_iterations": 0},
    "tight": {"max_iterations": 60, "max_points": 32, "step_tolerance_sigma": 1e-6, "tolerance": 1e-14, "eta0": 0.3,
              "fwhm_bounds": (0.5, 2.0), "position_slack_fwhm": 0.5},
}


def compute() -> dict[str, np.ndarray]:
    """Every recorded output, keyed by case and field."""
    from foundation.parameters import load_params
    from foundation.registry import technique
    from tasks.sxpd.analysis import Instrument, analyse_pattern
    from tasks.sxpd.calibration import calibrate
    from tasks.sxpd.demo import two_theta_axis
    from tasks.sxpd.peakfit import fit_groups
    from tasks.sxpd.synthesis import (
        DEMO_CAGLIOTI_DEG2,
        DEMO_WAVELENGTH_ANGSTROM,
        DEMO_ZERO_OFFSET_DEG,
        counts,
        silicon_profile,
    )

    params = load_params(technique("sxpd").default_params).values
    instrument = Instrument(DEMO_WAVELENGTH_ANGSTROM, DEMO_ZERO_OFFSET_DEG, DEMO_CAGLIOTI_DEG2)
    out: dict[str, np.ndarray] = {}
    calls = {}
    for name, d in (*_bench_patterns(), *_demo_patterns()):
        calls[name] = _record(name, lambda d=d: analyse_pattern(d["two_theta_deg"], d["intensity_counts"],
                                                                d["sigma_counts"], instrument, params), out)
    x_std = two_theta_axis(0.001)
    y_std, e_std = counts(silicon_profile(x_std), np.random.default_rng([BENCH_SEED, 0]))
    _record("si_standard", lambda: calibrate(x_std, y_std, e_std, params["calibration"]), out)
    # the windows of the first bench pattern's first pass (fixed positions, asymmetric windows) with
    # the options the analysis does not vary
    args, kwargs, _ = calls["bench[0]"][0]
    for name, options in DIRECT_OPTIONS.items():
        flatten(f"direct/{name}", fit_groups(*args, **{**kwargs, **options}), out)
    return out


def main() -> None:
    out = compute()
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, _made_at_commit=np.array(MADE_AT_COMMIT), _numpy_version=np.array(np.__version__),
                        **out)
    print(f"{REFERENCE}: {len(out)} arrays, {REFERENCE.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
