"""From one canonical cycler record to the rows of echem_series, echem_cycles and gitt_pulses."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from tasks.echem import cycles, gitt, soc
from tasks.echem.null_reasons import cycle_reasons, pulse_reasons, series_reasons


def cell_figures(cell: Any | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Active mass, nominal capacity, cut-off and area: the campaign's cell config, else the file's own."""
    if cell is not None:
        return {"active_mass_mg": cell.active_mass_mg, "nominal_mah_g": cell.nominal_capacity_mah_g,
                "lower_cutoff_v": cell.lower_cutoff_v, "electrode_area_cm2": cell.electrode_area_cm2,
                "source": "campaign"}
    return {"active_mass_mg": meta.get("active_mass_mg"), "nominal_mah_g": meta.get("nominal_capacity_mah_g"),
            "lower_cutoff_v": None, "electrode_area_cm2": None, "source": "file" if meta.get("active_mass_mg") else None}


def series_rows(records: pd.DataFrame, cell_id: str | None, figures: Mapping[str, Any], tolerance_v: float) -> pd.DataFrame:
    out = records.copy()
    if figures["source"] == "campaign":
        out["soc_pct"] = soc.soc_pct(out["charge_ah"].to_numpy(), out["voltage_v"].to_numpy(),
                                     out["current_a"].to_numpy(), active_mass_mg=figures["active_mass_mg"],
                                     nominal_mah_g=figures["nominal_mah_g"], lower_cutoff_v=figures["lower_cutoff_v"],
                                     tolerance_v=tolerance_v)
    else:
        out["soc_pct"] = np.nan  # the contract: no cell config, no SOC
    if "vendor_capacity_ah" not in out:
        out["vendor_capacity_ah"] = np.nan
    out.insert(0, "cell_id", cell_id)
    return out


def pulse_soc(records: pd.DataFrame, figures: Mapping[str, Any], tolerance_v: float) -> pd.DataFrame:
    """Records with a soc_pct usable for GITT pulses: config SOC, else the file's mass and capacity."""
    if records["soc_pct"].notna().any() or not figures.get("active_mass_mg") or not figures.get("nominal_mah_g"):
        return records
    cap_ah = figures["active_mass_mg"] * 1e-3 * figures["nominal_mah_g"] * 1e-3
    with_soc = records.copy()
    with_soc["soc_pct"] = (records["charge_ah"] - records["charge_ah"].iloc[0]) / cap_ah * 100.0
    return with_soc


def compute(records: pd.DataFrame, cell_id: str | None, figures: Mapping[str, Any],
            params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    tol = float(params.get("soc", {}).get("cutoff_tolerance_v", 0.01))
    series = series_rows(records, cell_id, figures, tol)
    per_cycle = cycles.per_cycle(series, figures.get("active_mass_mg"),
                                 float(params.get("cycles", {}).get("dqdv_bin_v", 0.005)))
    per_cycle.insert(0, "cell_id", cell_id)
    series["null_reasons"] = series_reasons(series)
    per_cycle["null_reasons"] = cycle_reasons(per_cycle, figures.get("active_mass_mg"))
    gp = dict(params.get("gitt", {}))
    settings = gitt.GittSettings.from_params(gp)
    pulses = gitt.analyse(pulse_soc(series, figures, tol), settings, active_mass_mg=figures.get("active_mass_mg"),
                          electrode_area_cm2=figures.get("electrode_area_cm2"))
    is_gitt = len(pulses) >= int(gp.get("min_pulses", 5))
    mode = "GITT" if is_gitt else "CYCLING"
    tables = {"echem_series": series, "echem_cycles": per_cycle}
    if is_gitt:
        pulses.insert(0, "cell_id", cell_id)
        pulses["null_reasons"] = pulse_reasons(pulses, figures.get("active_mass_mg"), figures.get("electrode_area_cm2"))
        tables["gitt_pulses"] = pulses
    for df in tables.values():
        df["mode"] = mode
    return tables
