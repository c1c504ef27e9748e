"""The AFM finalize yields one pair's pixel rows at a time and lets go of them before it reads the next
pair's pixels: a campaign's co-registered pixels (3.4 M rows in the full demo) never sit in memory together.
Spec-built maps: a smooth random topography, its C-AFM twin shifted by a known number of pixels."""
from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from foundation.contract import FinalizeContext
from foundation.parameters import load_params
from tasks.afm.process import finalize

ROOT = Path(__file__).resolve().parents[2]
N = 64
SHIFT_PX = (2, 3)  # (y, x): the C-AFM map's content sits this far from the ESM map's


def _maps(samples: list[str]) -> pd.DataFrame:
    rows = [{"measurement_id": f"{s}-{mode.lower()}", "sample_id": s, "mode": mode, "location_tag": "01",
             "n_x_px": N, "n_y_px": N, "pixel_size_um": 0.1, "raw_sha256": f"sha-{s}-{mode}"}
            for s in samples for mode in ("ESM", "CAFM")]
    return pd.DataFrame(rows)


def _pixels(measurement_id: str) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    height = ndimage.gaussian_filter(rng.normal(size=(N, N)), 3) * 50.0
    if measurement_id.endswith("cafm"):
        height = np.roll(height, SHIFT_PX, axis=(0, 1))
    y, x = np.divmod(np.arange(N * N), N)
    return pd.DataFrame({"y_um": y * 0.1, "x_um": x * 0.1, "height_nm": height.ravel(),
                         "esm_amp_pm_per_v": 5.0 + height.ravel() / 100, "current_pa": -height.ravel(),
                         "particle_id": np.zeros(N * N, np.int32), "region": ["matrix"] * (N * N)})


def test_finalize_yields_a_pair_at_a_time_and_releases_it_before_reading_the_next():
    params = load_params(ROOT / "tasks/afm/params/default.yaml")
    held: list[weakref.ref] = []
    read_while_held: list[str] = []

    def query(sql, args=None):
        if "from afm_maps" in sql:
            return _maps(["S1", "S2", "S3"])
        if any(ref() is not None for ref in held):  # a pixel read while a yielded piece is still alive
            read_while_held.append(args[0])
        return _pixels(args[0])

    pieces = finalize(FinalizeContext(campaign=None, params=params, query=query))
    seen = []
    for table, df in pieces:
        seen.append((table, sorted(df["pair_id"].unique()) if table == "afm_pairs" else len(df)))
        if table == "afm_pairs":
            held.append(weakref.ref(df))
        else:
            registrations = df
        del df  # what the pipeline does once the piece is written
    assert seen == [("afm_pairs", ["S1-esm+S1-cafm"]), ("afm_pairs", ["S2-esm+S2-cafm"]),
                    ("afm_pairs", ["S3-esm+S3-cafm"]), ("afm_registrations", 3)]
    assert read_while_held == []
    # the registration recovers the shift the C-AFM maps were built with (within a quarter pixel: the
    # rolled-in edge and the Hann window bias the sub-pixel peak a little)
    assert np.allclose(registrations[["shift_y_px", "shift_x_px"]], SHIFT_PX, atol=0.25)
