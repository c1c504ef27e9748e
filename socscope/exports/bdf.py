"""Cycler records in the Battery Data Format (BDF) of the Battery Data Alliance (LF Energy).

Column names, units and meanings from the BDF definition (battery-data-alliance/battery-data-format,
README "Defining the BDF for Cycler Time-Series Data"): required ``Test Time / s``, ``Voltage / V``,
``Current / A``; recommended ``Unix Time / s``, ``Cycle Count / 1``, ``Step Count / 1``; optional
``Net Capacity / Ah`` (charge minus discharge capacity over the interval). The first row holds the
preferred labels (``names="label"``, the default) or the machine-readable names (``names="machine"``,
e.g. ``test_time_second``, as the Alliance's reference files use). Units are fixed by the format, and
ours are the same SI units, so values pass unchanged; current is positive on charge in both (the
reference files' current is positive while the voltage rises). One file holds one cell.

What is left out rather than guessed: ``Unix Time`` when the file had no absolute time, ``Cycle Count``
when the cycler logged no cycle number (our -1), ``Step Count`` when it logged no step number.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: our canonical column (or a derived quantity) -> (BDF preferred label, BDF machine-readable name)
BDF_COLUMNS: dict[str, tuple[str, str]] = {
    "time_s": ("Test Time / s", "test_time_second"),
    "voltage_v": ("Voltage / V", "voltage_volt"),
    "current_a": ("Current / A", "current_ampere"),
    "unix_time": ("Unix Time / s", "unix_time_second"),
    "cycle_count": ("Cycle Count / 1", "cycle_count"),
    "step_count": ("Step Count / 1", "step_count"),
    "charge_ah": ("Net Capacity / Ah", "net_capacity_ah"),
}
REQUIRED = ("time_s", "voltage_v", "current_a")


def write_measurement(m: Any, path: Path, format: str | None = None, names: str = "label") -> Path:
    if m.kind != "cycler_record":
        raise TypeError(f"BDF is for cycler records; {m.path.name} is a {m.kind}")
    return write_frame(m.data, path, format, names)


def bdf_frame(records: Any, names: str = "label") -> Any:
    """A BDF table from canonical cycler records (``echem_series`` rows or ``socscope.read`` data)."""
    import pandas as pd

    missing = [c for c in REQUIRED if c not in records.columns]
    if missing:
        raise ValueError(f"cycler records for BDF need {list(REQUIRED)}; {missing} are missing")
    out = {key: records[key].to_numpy(dtype=float) for key in REQUIRED}
    stamps = records.get("timestamp")
    if stamps is not None and stamps.notna().all():
        out["unix_time"] = (pd.to_datetime(stamps, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    if "cycle" in records and (records["cycle"] >= 0).all():
        out["cycle_count"] = records["cycle"].to_numpy(dtype=np.int64)
    if "step" in records and (records["step"] >= 0).all():
        step = records["step"].to_numpy()  # the program's step number repeats; BDF counts steps run
        out["step_count"] = np.cumsum(np.r_[True, step[1:] != step[:-1]]).astype(np.int64)
    if "charge_ah" in records:
        out["charge_ah"] = records["charge_ah"].to_numpy(dtype=float)
    which = {"label": 0, "machine": 1}[names]
    return pd.DataFrame({BDF_COLUMNS[k][which]: v for k, v in out.items()})


def write_frame(records: Any, path: Path, format: str | None = None, names: str = "label") -> Path:
    """``path`` ending ``.parquet`` (e.g. ``cell.bdf.parquet``) or ``format="parquet"``: Parquet; else CSV."""
    kind = format or ("parquet" if path.suffix == ".parquet" else "csv")
    if kind not in ("csv", "parquet"):
        raise ValueError(f"BDF is written as csv or parquet, not {kind!r}")
    table = bdf_frame(records, names)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)  # shortest exact repr: Unix time keeps its milliseconds
    return path
