"""The ``sxpd_patterns`` row of a pattern fitted with declared phases (``phase_analysis``).

Its a/c columns are the R-3m (hexagonal setting) cell of the main phase; for any other main phase
they are null with a flag naming ``sxpd_phase_cells``, where every phase's cell is.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from foundation.contract import Measurement
from tasks.sxpd.analysis import Instrument
from tasks.sxpd.phase_analysis import PhasesAnalysis
from tasks.sxpd.phases import Phase


def _scan_number(meta: dict[str, Any]) -> int | None:
    for key in ("scan_number", "scan", "entry_identifier"):
        try:
            return int(str(meta[key]).strip())
        except (KeyError, ValueError):
            continue
    return None


def _main_lattice(main: Phase | None, res: PhasesAnalysis, flags: list[str]) -> dict[str, Any]:
    keys = ("a_angstrom", "a_sigma_angstrom", "c_angstrom", "c_sigma_angstrom", "volume_a3", "volume_sigma_a3",
            "c_over_a")
    if main is None:
        flags.append("main phase not declared for this sample (settings.sxpd.sample_phases): a, c null here, "
                     "the phases' cells are in sxpd_phase_cells")
        return dict.fromkeys(keys)
    cell = res.cells.cells.get(main.name) if res.cells is not None else None
    if not main.is_r3m_hexagonal:
        flags.append(f"main phase {main.name} is {main.hm}, not R-3m: a, c null here, its cell is in sxpd_phase_cells")
        return dict.fromkeys(keys)
    if cell is None:
        flags.append(f"main phase {main.name} not observed: a, c null (sxpd_phase_cells says why)")
        return dict.fromkeys(keys)
    v, s = cell.values, cell.sigmas
    if not (s[0] < 0.002 and s[2] < 0.01):
        flags.append("lattice poorly determined")
    return dict(zip(keys, (v[0], s[0], v[2], s[2], v[6], s[6], v[2] / v[0])))


def declared_pattern_row(m: Measurement, when: pd.Timestamp | None, instrument: Instrument, source: str,
                         calibration_id: str | None, flags: list[str], main: Phase | None,
                         res: PhasesAnalysis) -> dict[str, Any]:
    pk, cells, wh = res.peaks, res.cells, res.strain
    lattice = _main_lattice(main, res, flags)
    for fam in ("00l", "hk0", "overall"):
        if wh[fam].flag:
            flags.append(f"strain {fam}: {wh[fam].flag}")
    main_name = main.name if main is not None else ""
    mine = (pk["phase"] == main_name) & pk["fitted"]
    converged = pk["converged"][mine] if mine.any() else pk["converged"][pk["fitted"]]
    chi2 = pk["group_chi2_red"][np.isfinite(pk["group_chi2_red"])]
    d = m.data
    return {"scan_number": _scan_number(m.meta), "measured_at": when, "source_format": m.meta.get("format"),
            "n_points": int(m.meta.get("n_points", len(d["two_theta_deg"]))),
            "two_theta_max_deg": float(d["two_theta_deg"][-1]), "calibration_id": calibration_id,
            "wavelength_source": source, "wavelength_angstrom": instrument.wavelength_angstrom,
            "zero_offset_deg": instrument.zero_offset_deg, **lattice,
            "zero_shift_deg": cells.zero_shift, "zero_shift_sigma_deg": cells.zero_shift_sigma,
            "lattice_chi2_red": cells.chi2_red, "lattice_rms_residual_deg": cells.rms_residual_deg,
            "n_reflections_fitted": int(mine.sum()),
            "n_reflections_used": int((pk["used_in_lattice"] & (pk["phase"] == main_name)).sum()),
            "fit_converged_fraction": float(np.mean(converged)) if converged.size else 0.0,
            "median_group_chi2_red": float(np.median(chi2)) if chi2.size else None,
            "microstrain_pct": wh["overall"].microstrain_pct, "microstrain_sigma_pct": wh["overall"].microstrain_sigma_pct,
            "microstrain_00l_pct": wh["00l"].microstrain_pct, "microstrain_00l_sigma_pct": wh["00l"].microstrain_sigma_pct,
            "microstrain_hk0_pct": wh["hk0"].microstrain_pct, "microstrain_hk0_sigma_pct": wh["hk0"].microstrain_sigma_pct,
            "size_nm": wh["overall"].size_nm, "n_reflections_00l": wh["00l"].n_reflections,
            "n_reflections_hk0": wh["hk0"].n_reflections, "quality_flags": "; ".join(flags)}
