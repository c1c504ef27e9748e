"""Diffraction patterns as ``.xye``: three whitespace-separated columns, 2θ (degrees), intensity, σ.

The format has no formal specification; the common reading (GSAS-II, TOPAS, FullProf, Jana, DAWN's
I11 output) is "numbers in three columns". Lines starting with ``#`` carry where the pattern came from;
``header=False`` leaves them out for programs that refuse comment lines.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ("two_theta_deg", "intensity_counts", "sigma_counts")


def write_measurement(m: Any, path: Path, header: bool = True) -> Path:
    if m.kind != "xrd_pattern":
        raise TypeError(f".xye is for diffraction patterns (kind xrd_pattern); {m.path.name} is a {m.kind}")
    lines = [f"source file {m.path.name} (sha256 {m.sha256}), read by {m.reader}",
             "columns: 2theta / deg, intensity / counts, sigma / counts"]
    if str(m.meta.get("sigma_estimated")) == "True":
        lines.append("sigma estimated as sqrt(counts): the file had no uncertainties")
    return write_xye(m.data, path, lines if header else [])


def write_xye(frame: Any, path: Path, comments: list[str]) -> Path:
    """``frame`` with the columns of ``COLUMNS``; σ must be known for every point (an .xye row has three)."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"a pattern for .xye needs columns {list(COLUMNS)}; {missing} are missing")
    values = frame[list(COLUMNS)].to_numpy(dtype=float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{int(bad.sum())} points have no finite 2θ, intensity or σ (first: row {first}); "
                         "an .xye row needs all three: drop those points or give σ")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, values, fmt="%.10g", header="\n".join(comments), comments="# ")
    return path
