"""Score the olivine demo warehouse against its ground truth (truth/sxpd/olivine_truth.csv, never on the share).

Rows shaped like ``findings`` (check_name, statistic, statistic_name, expected, verdict, why), from
``sxpd_phase_cells`` (one row per pattern x declared phase: a, b, c, weight_fraction, quality_flags).
Thresholds of issue 18: a, b, c within 0.001 Å of the truth, FePO4 fraction within 0.03. A phase's cell
is scored on the patterns where it is at least ``MIN_FRACTION`` of the olivine (weight): below that a
phase is a shoulder on its neighbour's peaks. The FePO4 fraction is taken among the olivine phases (main +
secondary), so cell parts (Al, Li) do not enter it whichever way the refinement normalises.

``python -m tasks.sxpd.olivine_score <demo dir>`` prints the rows for a processed demo.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.sxpd.olivine_demo import DELITHIATED, LITHIATED

CELL_TOLERANCE_ANGSTROM = 0.001
FRACTION_TOLERANCE = 0.03
MIN_FRACTION = 0.05
TIME_TOLERANCE_S = 1.0
SOC_TOLERANCE_PCT = 1.0
CELLS_SQL = """select r.original_name, c.phase, c.role, c.measured_at, c.a_angstrom, c.b_angstrom, c.c_angstrom,
                      c.weight_fraction, c.quality_flags, al.soc_pct
               from sxpd_phase_cells c join raw_files r using (raw_sha256)
               left join (select distinct measurement_id, soc_pct from sxpd_alignment) al using (measurement_id)"""


def _row(name: str, statistic: float, statistic_name: str, expected: str, passed: bool, why: str) -> dict:
    return {"check_name": name, "statistic": statistic, "statistic_name": statistic_name, "expected": expected,
            "verdict": "pass" if passed else "fail", "why": why}


def _per_pattern(cells: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per truth pattern with each olivine phase's found cell and the FePO4 fraction among them."""
    t = truth.assign(original_name=truth["file"].str.split("/").str[-1])
    wide = t[["original_name"]].copy()
    for phase in (LITHIATED, DELITHIATED):
        mine = cells[cells["phase"] == phase].drop_duplicates("original_name")
        mine = mine.set_index("original_name")
        for col in ("a_angstrom", "b_angstrom", "c_angstrom", "weight_fraction", "quality_flags", "measured_at",
                    "soc_pct"):
            wide[f"{phase}_{col}_found"] = wide["original_name"].map(mine[col]) if col in mine else np.nan
    wf = wide[f"{DELITHIATED}_weight_fraction_found"].astype(float)
    wl = wide[f"{LITHIATED}_weight_fraction_found"].astype(float)
    wide["fepo4_fraction_found"] = wf.fillna(0.0) / (wf.fillna(0.0) + wl.fillna(0.0)).replace(0.0, np.nan)
    wide.loc[wf.isna() & wl.isna(), "fepo4_fraction_found"] = np.nan
    return t.merge(wide, on="original_name")


def _cell_checks(both: pd.DataFrame) -> list[dict]:
    rows = []
    for phase in (LITHIATED, DELITHIATED):
        share = both["fepo4_weight_fraction"] if phase == DELITHIATED else 1.0 - both["fepo4_weight_fraction"]
        scored = both[share >= MIN_FRACTION]
        for key in "abc":
            err = (scored[f"{phase}_{key}_angstrom_found"].astype(float) - scored[f"{phase}_{key}_angstrom"]).abs()
            worst = float(err.max()) if len(err) and err.notna().all() else np.nan
            rows.append(_row(f"{phase}_{key}_within_{CELL_TOLERANCE_ANGSTROM:g}_angstrom", worst, "max_abs_error_angstrom",
                             f"<= {CELL_TOLERANCE_ANGSTROM} A on every pattern with >= {MIN_FRACTION:.0%} {phase}",
                             bool(len(err) and np.isfinite(worst) and worst <= CELL_TOLERANCE_ANGSTROM),
                             f"{phase} {key}: {int(err.notna().sum())} of {len(scored)} patterns refined, worst error "
                             f"{worst:.5f} A"))
    return rows


def _fraction_and_absence_checks(both: pd.DataFrame) -> list[dict]:
    err = (both["fepo4_fraction_found"] - both["fepo4_weight_fraction"]).abs()
    worst = float(err.max()) if err.notna().all() else np.nan
    rows = [_row(f"fepo4_fraction_within_{FRACTION_TOLERANCE:g}", worst, "max_abs_error",
                 f"<= {FRACTION_TOLERANCE} on every pattern (FePO4 weight fraction among the olivine phases)",
                 bool(np.isfinite(worst) and worst <= FRACTION_TOLERANCE),
                 f"{int(err.notna().sum())} of {len(both)} patterns with a fraction, worst error {worst:.4f}")]
    absent = []
    for phase in (LITHIATED, DELITHIATED):
        share = both["fepo4_weight_fraction"] if phase == DELITHIATED else 1.0 - both["fepo4_weight_fraction"]
        gone = both[share <= 0.0]
        absent += [pd.isna(r[f"{phase}_a_angstrom_found"]) and "phase_not_observed" in str(r[f"{phase}_quality_flags_found"])
                   for _, r in gone.iterrows()]
    rows.append(_row("absent_phase_null_and_flagged", float(sum(absent)), "patterns_ok",
                     f"{len(absent)} of {len(absent)}: null cell + phase_not_observed where a phase is absent",
                     bool(absent) and all(absent), f"{sum(absent)} of {len(absent)} absent-phase rows null and flagged"))
    return rows


def _time_check(both: pd.DataFrame) -> dict:
    found = pd.to_datetime(both[f"{LITHIATED}_measured_at_found"], utc=True)
    err = (found - pd.to_datetime(both["measured_at"], utc=True, format="ISO8601")).dt.total_seconds().abs()
    worst = float(err.max()) if err.notna().all() else np.nan
    return _row("pattern_times_from_scan_log", worst, "max_abs_error_s", f"<= {TIME_TOLERANCE_S} s on every pattern",
                bool(np.isfinite(worst) and worst <= TIME_TOLERANCE_S),
                f"{int(err.notna().sum())} of {len(both)} patterns timed (their files carry no time: the scan log's)")


def _soc_check(both: pd.DataFrame) -> dict:
    err = (both[f"{LITHIATED}_soc_pct_found"].astype(float) - both["soc_pct"]).abs()
    worst = float(err.max()) if err.notna().all() else np.nan
    return _row("soc_from_cycler", worst, "max_abs_error_pct", f"<= {SOC_TOLERANCE_PCT} % SOC on every pattern",
                bool(np.isfinite(worst) and worst <= SOC_TOLERANCE_PCT),
                f"{int(err.notna().sum())} of {len(both)} patterns placed on the cycler record (scan-log time)")


def score(cells: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Score rows for the phase-cell table of a processed olivine demo against its truth."""
    both = _per_pattern(cells, truth)
    rows = [_row("every_pattern_refined", float(both[f"{LITHIATED}_measured_at_found"].notna().sum()), "patterns",
                 f"{len(truth)} (every pattern of the truth)",
                 bool(both[f"{LITHIATED}_measured_at_found"].notna().sum() == len(truth)),
                 f"{len(both)} truth patterns matched by file name")]
    return pd.DataFrame(rows + _cell_checks(both) + _fraction_and_absence_checks(both)
                        + [_time_check(both), _soc_check(both)])


def score_warehouse(query, truth_root: Path) -> pd.DataFrame:
    """``query(sql)`` on the demo warehouse (Warehouse.query) → score rows."""
    return score(query(CELLS_SQL), pd.read_csv(Path(truth_root) / "sxpd" / "olivine_truth.csv"))


def main(argv: list[str]) -> int:
    import os

    import duckdb

    root = Path(argv[0] if argv else "demo").resolve()
    os.chdir(root / "warehouse")  # the catalog's views name their files relative to the warehouse
    con = duckdb.connect("catalog.duckdb", read_only=True)
    rows = score_warehouse(lambda sql: con.execute(sql).df(), root / "truth")
    print(rows[["check_name", "verdict", "statistic", "expected"]].to_string(index=False))
    return 0 if (rows["verdict"] == "pass").all() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
