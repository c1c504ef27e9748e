"""Per-pixel, per-particle, per-map features of one segmented map (pure functions on arrays)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from skimage import measure

from schemas.afm import STAT_CHANNELS

REGION_NAMES = np.array(["matrix", "rim", "core"])


def regions(labels: np.ndarray, dist_um: np.ndarray, rim_width_um: float) -> np.ndarray:
    """0 matrix, 1 rim, 2 core."""
    return np.where(labels == 0, 0, np.where(dist_um <= rim_width_um, 1, 2)).astype(np.int8)


def pixel_frame(channels: Mapping[str, np.ndarray | None], labels: np.ndarray, dist_um: np.ndarray,
                region_code: np.ndarray, pixel_um: float) -> pd.DataFrame:
    ny, nx = labels.shape
    yy, xx = np.divmod(np.arange(ny * nx, dtype=np.int64), nx)
    cols: dict[str, Any] = {
        "x_um": ((xx + 0.5) * pixel_um).astype(np.float32),
        "y_um": ((yy + 0.5) * pixel_um).astype(np.float32),
    }
    for name, arr in channels.items():
        cols[name] = (np.full(ny * nx, np.nan, dtype=np.float32) if arr is None
                      else np.asarray(arr, dtype=np.float32).ravel())
    cols["particle_id"] = labels.ravel().astype(np.int32)
    cols["dist_to_boundary_um"] = dist_um.ravel().astype(np.float32)
    cols["region"] = pd.Categorical.from_codes(region_code.ravel(), categories=list(REGION_NAMES))
    return pd.DataFrame(cols)


def _stats(values: np.ndarray) -> dict[str, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"mean": np.nan, "std": np.nan, "median": np.nan, "p5": np.nan, "p95": np.nan}
    p5, med, p95 = np.percentile(v, [5, 50, 95])
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(med), "p5": float(p5), "p95": float(p95)}


def _ratio(a: float, b: float) -> float:
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b != 0 else np.nan


_DIAMOND = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, -0.5], [0.0, 0.5]])  # pixel-edge midpoints


def _solidity(prop: Any) -> float:
    """``prop.solidity`` (area / area of skimage's convex hull image), computed the same way -- hull of
    the pixel-edge midpoints of the row/column end pixels -- but testing only the bounding-box pixels
    outside the particle against the hull (the particle's own pixel centres lie strictly inside it)
    instead of every pixel of the box. Falls back to regionprops on any degenerate case."""
    try:
        from scipy.spatial import ConvexHull
        from skimage.measure import points_in_poly
        from skimage.morphology._convex_hull import possible_hull
        from skimage.util import unique_rows

        image = prop.image
        coords = possible_hull(np.ascontiguousarray(image, dtype=np.uint8))
        coords = unique_rows((coords[:, np.newaxis, :] + _DIAMOND).reshape(-1, 2))
        hull = ConvexHull(coords)
        outside = np.argwhere(~image).astype(np.float64)
        extra = int(points_in_poly(outside, hull.points[hull.vertices]).sum()) if len(outside) else 0
        return float(prop.area / (np.count_nonzero(image) + extra))
    except Exception:  # noqa: BLE001 - qhull on a line of pixels, a changed skimage internal...
        return float(prop.solidity)


def particle_table(channels: Mapping[str, np.ndarray | None], labels: np.ndarray, region_code: np.ndarray,
                   edge_flags: np.ndarray, pixel_um: float) -> pd.DataFrame:
    """One row per particle: geometry and stats of each channel, rim/core means and ratios."""
    rows = []
    for prop in measure.regionprops(labels):
        pid = prop.label
        # the particle's pixels in raster order (as prop.coords), by its mask on the bounding box
        box, inside = prop.slice, prop.image
        reg = region_code[box][inside]
        is_rim, is_core = reg == 1, reg == 2
        any_rim, any_core = bool(is_rim.any()), bool(is_core.any())
        row: dict[str, Any] = {
            "particle_id": np.int32(pid),
            "area_um2": prop.area * pixel_um**2,
            "equivalent_diameter_um": prop.equivalent_diameter_area * pixel_um,
            "centroid_x_um": (prop.centroid[1] + 0.5) * pixel_um,
            "centroid_y_um": (prop.centroid[0] + 0.5) * pixel_um,
            "eccentricity": float(prop.eccentricity),
            "solidity": _solidity(prop),
            "touches_edge": bool(edge_flags[pid]),
            "n_rim_px": np.int32(is_rim.sum()),
            "n_core_px": np.int32(is_core.sum()),
        }
        for short, column, suffix in STAT_CHANNELS:
            arr = channels.get(column)
            values = arr[box][inside] if arr is not None else np.array([])
            for stat, val in _stats(values).items():
                row[f"{short}_{stat}_{suffix}"] = val
            rim = float(np.nanmean(values[is_rim])) if arr is not None and any_rim else np.nan
            core = float(np.nanmean(values[is_core])) if arr is not None and any_core else np.nan
            row[f"{short}_rim_mean_{suffix}"], row[f"{short}_core_mean_{suffix}"] = rim, core
            if short != "height":
                row[f"{short}_rim_core_ratio"] = _ratio(rim, core)
        rows.append(row)
    return pd.DataFrame(rows)


def map_stats(channels: Mapping[str, np.ndarray | None], labels: np.ndarray, region_code: np.ndarray,
              threshold_pa: float) -> dict[str, Any]:
    particles = labels > 0
    matrix = ~particles
    out: dict[str, Any] = {}
    for short, column, suffix in STAT_CHANNELS:
        arr = channels.get(column)
        finite = np.isfinite(arr) if arr is not None else None
        for scope in ("all", "particles", "matrix"):
            if arr is None:
                v = np.array([])
            else:  # one copy of the finite values in scope (the median may then reorder it in place)
                v = arr[finite if scope == "all" else (finite & (particles if scope == "particles" else matrix))]
            out[f"{short}_{scope}_mean_{suffix}"] = float(v.mean()) if v.size else np.nan
            out[f"{short}_{scope}_std_{suffix}"] = float(v.std()) if v.size else np.nan
            out[f"{short}_{scope}_median_{suffix}"] = float(np.median(v, overwrite_input=True)) if v.size else np.nan

    rim_px, core_px = region_code == 1, region_code == 2
    has_rim_core = bool(rim_px.any()) and bool(core_px.any())

    def rim_core(column: str, diff: bool = False) -> float:
        arr = channels.get(column)
        if arr is None or not has_rim_core:
            return np.nan
        rim, core = np.nanmean(arr[rim_px]), np.nanmean(arr[core_px])
        return float(rim - core) if diff else _ratio(rim, core)

    out["esm_rim_core_ratio"] = rim_core("esm_amp_pm_per_v")
    out["current_rim_core_ratio"] = rim_core("current_pa")
    out["crf_rim_minus_core_khz"] = rim_core("crf_khz", diff=True)
    esm_p = out["esm_particles_mean_pm_per_v"]
    out["esm_particles_cv"] = _ratio(out["esm_particles_std_pm_per_v"], esm_p)
    current = channels.get("current_pa")
    out["conductive_threshold_pa"] = float(threshold_pa) if current is not None else np.nan
    if current is not None:
        conductive = np.abs(current) > threshold_pa
        out["conductive_area_fraction"] = float(conductive.mean())
        out["conductive_area_fraction_particles"] = float(conductive[particles].mean()) if particles.any() else np.nan
    else:
        out["conductive_area_fraction"] = out["conductive_area_fraction_particles"] = np.nan
    out["n_particles"] = np.int32(np.count_nonzero(np.bincount(labels.ravel())[1:]))
    out["particle_area_fraction"] = float(particles.mean())
    return out


def potential_stats(potential_v: np.ndarray | None, labels: np.ndarray) -> dict[str, float]:
    """KPFM surface potential (V) over the map, the particles and the matrix (NaN: no potential recorded)."""
    out = {}
    for scope, sel in (("all", np.ones(labels.shape, bool)), ("particles", labels > 0), ("matrix", labels == 0)):
        v = potential_v[sel] if potential_v is not None else np.array([])
        v = v[np.isfinite(v)]
        out[f"potential_{scope}_mean_v"] = float(v.mean()) if v.size else np.nan
        out[f"potential_{scope}_std_v"] = float(v.std()) if v.size else np.nan
    return out


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value on the (uniform) edges as ``np.histogram`` counts it: edges[i] <= v < edges[i+1],
    the last bin closed; values outside [edges[0], edges[-1]] or NaN get len(edges) - 1 (a spill bin)."""
    n = len(edges) - 1
    v = values.astype(np.float64, copy=False)
    lo, hi = float(edges[0]), float(edges[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        keep = (v >= lo) & (v <= hi)
        idx = np.where(keep, (v - lo) * (n / (hi - lo)), 0.0).astype(np.intp)
    np.clip(idx, 0, n - 1, out=idx)
    # the arithmetic guess is off by at most one: settle it against the edges themselves
    idx -= v < edges[idx]
    idx += (v >= edges[np.minimum(idx + 1, n)]) & (idx != n - 1)
    idx[~keep] = n
    return idx


def histogram_table(channels: Mapping[str, np.ndarray | None], labels: np.ndarray,
                    hist_params: Mapping[str, Any]) -> pd.DataFrame:
    """Counts per channel on fixed edges over the whole map, particles and matrix (one pass per channel:
    particles and matrix partition the map, so "all" is their sum)."""
    n_bins = int(hist_params["n_bins"])
    particles = (labels > 0).ravel()
    cols: dict[str, Any] = {"region": ["all"] * n_bins + ["particles"] * n_bins + ["matrix"] * n_bins,
                            "bin_index": np.tile(np.arange(n_bins, dtype=np.int32), 3)}
    for short, column, suffix in STAT_CHANNELS:
        lo, hi = hist_params[column]
        edges = np.linspace(lo, hi, n_bins + 1)
        cols[f"{short}_bin_lo_{suffix}"], cols[f"{short}_bin_hi_{suffix}"] = np.tile(edges[:-1], 3), np.tile(edges[1:], 3)
        arr = channels.get(column)
        if arr is None:
            cols[f"{short}_count"] = pd.array([None] * (3 * n_bins), dtype="Int64")
        else:
            key = _bin_index(np.asarray(arr).ravel(), edges) + particles * (n_bins + 1)
            counts = np.bincount(key, minlength=2 * (n_bins + 1)).reshape(2, n_bins + 1)[:, :n_bins]
            matrix, inside = counts[0].astype(np.int64), counts[1].astype(np.int64)
            cols[f"{short}_count"] = np.concatenate([matrix + inside, inside, matrix])
    return pd.DataFrame(cols)


def profile_table(channels: Mapping[str, np.ndarray | None], labels: np.ndarray, dist_um: np.ndarray,
                  prof_params: Mapping[str, Any]) -> pd.DataFrame:
    """Mean of each channel per particle and distance-from-boundary bin (grouped in one pass:
    labelled sums with ``np.bincount``; NaN pixels are skipped, an all-NaN group is NaN)."""
    width, top = float(prof_params["bin_width_um"]), float(prof_params["max_distance_um"])
    sel = (labels > 0) & (dist_um < top)
    if not sel.any():
        return pd.DataFrame()
    pid = labels[sel].astype(np.int64)
    bins = np.floor(dist_um[sel] / width).astype(np.int32)
    n_b = int(bins.max()) + 1
    key = pid * n_b + bins
    size = np.bincount(key)
    groups = np.flatnonzero(size)  # ascending key = sorted by (particle_id, bin_index)
    out: dict[str, Any] = {"particle_id": (groups // n_b).astype(np.int32),
                           "bin_index": (groups % n_b).astype(np.int32)}
    for short, column, suffix in STAT_CHANNELS:
        arr = channels.get(column)
        name = f"{short}_mean_{suffix}"
        if arr is None:
            out[name] = np.full(len(groups), np.nan)
            continue
        v = arr[sel].astype(np.float64)
        nan = np.isnan(v)
        total = np.bincount(key, weights=np.where(nan, 0.0, v), minlength=len(size))[groups]
        count = np.bincount(key, weights=~nan, minlength=len(size))[groups]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(count > 0, total / count, np.nan)
    frame = pd.DataFrame(out)
    frame["n_px"] = size[groups].astype(np.int32)
    frame["dist_lo_um"] = out["bin_index"] * width
    frame["dist_hi_um"] = (out["bin_index"] + 1) * width
    return frame
