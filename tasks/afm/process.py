"""process (one map -> its rows) and finalize (ESM x C-AFM pairs) of the AFM technique."""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from foundation.contract import FinalizeContext, Measurement, ProcessContext
from tasks.afm import features, registration, segmentation
from tasks.afm.corrections import flatten_height
from tasks.afm.null_reasons import map_null_reasons
from tasks.afm.signals import MapSignals, extract_signals

PIXEL_CHANNEL_ORDER = ("height_nm", "esm_amp_pm_per_v", "phase_deg", "crf_khz", "current_pa", "potential_v")


def location_tag(original_name: str, note: str, pattern: str) -> str | None:
    for text in (original_name, note or ""):
        m = re.search(pattern, text)
        if m:
            return m.group("loc").lower()
    return None


def segmentation_channel(sig: MapSignals, mode: str | None, series: str | None, seg: dict[str, Any],
                         flat_height_nm: Callable[[], np.ndarray]) -> np.ndarray:
    """The channel particles stand out in: ESM amplitude (pm/V, else the amplitude before drive and Q),
    C-AFM friction or signed current; for every other mode the (roughly flattened) topography."""
    if mode == "ESM":
        return sig.esm_amp_pm_per_v if sig.esm_amp_pm_per_v is not None else sig.amplitude_m
    if mode == "CAFM":
        if sig.friction is not None:
            return sig.friction
        sign = float(seg["cafm_current_sign"].get(series or "cumulative", -1))
        return sign * sig.current_pa
    return flat_height_nm()


def analyse(m: Measurement, params: dict[str, Any], series: str | None) -> dict[str, Any]:
    """Everything about one map, as arrays and scalars (shared by process, scoring and the benchmark)."""
    sig = extract_signals(m, params)
    ny, nx = sig.height_m.shape
    pixel_um = float(m.meta["scan_size_x_m"]) * 1e6 / nx
    seg_p, flat_p = params["segmentation"], params["flatten"]
    height_raw_nm = sig.height_m * 1e9
    height_weight = float(seg_p["height_weight"])

    @functools.cache
    def rough_flat_nm() -> np.ndarray:  # unmasked flattening: topography contrast (computed only if used)
        return flatten_height(height_raw_nm, None, flat_p["scar_threshold_sigma"])[0]

    rough_flat = rough_flat_nm() if height_weight else None
    primary = segmentation_channel(sig, m.mode, series, seg_p, rough_flat_nm)
    contrast = segmentation.contrast_image(primary, rough_flat, height_weight)
    labels = segmentation.segment_particles(contrast, pixel_um, seg_p)
    seg_quality, seg_flags = segmentation.segmentation_quality(contrast, labels, seg_p)
    height_nm, quality = flatten_height(height_raw_nm, labels > 0, flat_p["scar_threshold_sigma"])
    dist = segmentation.boundary_distance(labels, pixel_um)
    region_code = features.regions(labels, dist, float(params["regions"]["rim_width_um"]))
    channels = {"height_nm": height_nm, "esm_amp_pm_per_v": sig.esm_amp_pm_per_v, "phase_deg": sig.phase_deg,
                "crf_khz": sig.crf_khz, "current_pa": sig.current_pa, "potential_v": sig.potential_v}
    return {"signals": sig, "channels": channels, "labels": labels, "dist_um": dist, "region_code": region_code,
            "pixel_um": pixel_um, "quality": quality, "segmentation": seg_quality,
            "flags": sig.info.get("flags", []) + seg_flags}


def _saturated_fraction(m: Measurement, current_pa: np.ndarray | None, cafm: dict[str, Any]) -> float | None:
    if current_pa is None:
        return None
    full_scale = cafm.get("full_scale_a")
    if not full_scale and m.meta.get("orca_gain_a_per_v"):
        full_scale = 10.0 * float(m.meta["orca_gain_a_per_v"])  # ORCA output spans +-10 V
    if not full_scale:
        return None
    return float((np.abs(current_pa) >= cafm["saturation_fraction"] * full_scale * 1e12).mean())


def process(m: Measurement, ctx: ProcessContext) -> dict[str, pd.DataFrame]:
    params = ctx.params.values
    series = ctx.sample.series if ctx.sample is not None else None
    a = analyse(m, params, series)
    ch, labels, dist, code, px = a["channels"], a["labels"], a["dist_um"], a["region_code"], a["pixel_um"]
    ny, nx = labels.shape
    original = m.provenance.original_name if m.provenance else ""
    roles = m.meta.get("roles", {})
    stats = features.map_stats(ch, labels, code, float(params["cafm"]["conductive_threshold_pa"]))
    info = a["signals"].info
    map_row: dict[str, Any] = {
        "original_name": original,
        "location_tag": location_tag(original.rsplit("/", 1)[-1], m.meta.get("location_note", ""),
                                     params["pairing"]["location_pattern"]),
        "vendor": m.meta.get("vendor"),
        "imaging_mode_vendor": m.meta.get("imaging_mode") or None,
        "mode_evidence": m.meta.get("mode_evidence"),
        "quality_flags": ",".join(a["flags"]),
        "channels": ", ".join(f"{c}={r}" for c, r in roles.items()),
        "scan_size_x_um": float(m.meta["scan_size_x_m"]) * 1e6,
        "scan_size_y_um": float(m.meta["scan_size_y_m"]) * 1e6,
        "n_x_px": np.int32(nx), "n_y_px": np.int32(ny), "pixel_size_um": px,
        "drive_amplitude_v": info.get("drive_amplitude_v"),
        "q_source": info.get("q_source"), "q_mean": info.get("q_mean"),
        "tilt_nm": a["quality"]["tilt"], "roughness_rms_nm": a["quality"]["roughness_rms"],
        "n_scar_px": np.int32(a["quality"]["n_scar_px"]),
        "saturated_fraction": _saturated_fraction(m, ch["current_pa"], params["cafm"]),
    } | stats | a["segmentation"] | features.potential_stats(ch["potential_v"], labels)
    map_row["null_reasons"] = map_null_reasons(m.mode, ch, map_row, code)
    edge = segmentation.touches_edge(labels)
    particles = features.particle_table(ch, labels, code, edge, px)
    return {
        "afm_maps": pd.DataFrame([map_row]),
        "afm_pixels": features.pixel_frame({k: ch[k] for k in PIXEL_CHANNEL_ORDER}, labels, dist, code, px),
        "afm_particles": particles,
        "afm_histograms": features.histogram_table(ch, labels, params["histograms"]),
        "afm_profiles": features.profile_table(ch, labels, dist, params["profiles"]),
    }


# ---------------------------------------------------------------- finalize: ESM x C-AFM pairs

def _grid(frame: pd.DataFrame, column: str, ny: int, nx: int) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.float64).reshape(ny, nx)


def _pixels(ctx: FinalizeContext, measurement_id: str, params_id: str) -> pd.DataFrame:
    return ctx.query(
        "select y_um, x_um, height_nm, esm_amp_pm_per_v, current_pa, particle_id, region from afm_pixels "
        "where measurement_id = ? and params_id = ? order by y_um, x_um", [measurement_id, params_id])


def pair_maps(esm: pd.Series, cafm: pd.Series, esm_px: pd.DataFrame, cafm_px: pd.DataFrame,
              pairing: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    ny, nx = int(esm.n_y_px), int(esm.n_x_px)
    h_esm = _grid(esm_px, "height_nm", ny, nx)
    cy, cx = int(cafm.n_y_px), int(cafm.n_x_px)
    h_cafm = registration.match_grid(_grid(cafm_px, "height_nm", cy, cx), (ny, nx))
    cur = registration.match_grid(_grid(cafm_px, "current_pa", cy, cx), (ny, nx))
    dy, dx = registration.register_shift(h_esm, h_cafm, int(pairing["upsample_factor"]))
    h_on = registration.shift_image(h_cafm, (dy, dx))
    cur_on = registration.shift_image(cur, (dy, dx))
    corr, ok = registration.overlap_correlation(h_esm, h_on)
    pair_id = f"{esm.measurement_id}+{cafm.measurement_id}"
    esm_amp = esm_px["esm_amp_pm_per_v"].to_numpy()
    sel = ok.ravel() & np.isfinite(cur_on.ravel()) & np.isfinite(esm_amp)
    r = float(np.corrcoef(esm_amp[sel], cur_on.ravel()[sel])[0, 1]) if sel.sum() > 16 else np.nan
    px_um = float(esm.pixel_size_um)
    quality = {
        "pair_id": pair_id, "location_tag": esm.location_tag,
        "esm_measurement_id": esm.measurement_id, "cafm_measurement_id": cafm.measurement_id,
        "shift_x_px": -dx, "shift_y_px": -dy, "shift_x_um": -dx * px_um, "shift_y_um": -dy * px_um,
        "peak_correlation": corr, "overlap_fraction": float(ok.mean()), "n_pixels": int(sel.sum()),
        "esm_current_pearson_r": r, "quality_ok": bool(np.isfinite(corr) and corr >= pairing["min_peak_correlation"]),
    }
    keep = ok.ravel()
    pairs = pd.DataFrame({
        "pair_id": pair_id, "location_tag": esm.location_tag,
        "esm_measurement_id": esm.measurement_id, "cafm_measurement_id": cafm.measurement_id,
        "x_um": esm_px["x_um"].to_numpy(np.float32)[keep], "y_um": esm_px["y_um"].to_numpy(np.float32)[keep],
        "esm_amp_pm_per_v": esm_amp[keep].astype(np.float32),
        "current_pa": cur_on.ravel()[keep].astype(np.float32),
        "height_esm_nm": h_esm.ravel()[keep].astype(np.float32),
        "height_cafm_nm": h_on.ravel()[keep].astype(np.float32),
        "particle_id": esm_px["particle_id"].to_numpy(np.int32)[keep],
        "region": esm_px["region"].astype(str).to_numpy()[keep],
    })
    return pairs, quality


def finalize(ctx: FinalizeContext) -> Iterator[tuple[str, pd.DataFrame]]:
    """Pair ESM and C-AFM maps of the same sample and location tag, register, resample.

    Yields each pair's pixel rows as it is made (the pipeline writes them before the next pair is
    read: a campaign's pairs never sit in memory together), then one row per pair in afm_registrations."""
    pid = ctx.params.id
    maps = ctx.query(
        "select measurement_id, sample_id, mode, location_tag, n_x_px, n_y_px, pixel_size_um, raw_sha256 "
        "from afm_maps where location_tag is not null and params_id = ? order by measurement_id", [pid])
    quality_rows = []
    for (sample, loc), group in maps.groupby(["sample_id", "location_tag"], dropna=True, sort=True):
        esm_rows, cafm_rows = group[group["mode"] == "ESM"], group[group["mode"] == "CAFM"]
        if esm_rows.empty or cafm_rows.empty:
            continue
        esm, cafm = esm_rows.iloc[0], cafm_rows.iloc[0]
        pairs, quality = pair_maps(esm, cafm, _pixels(ctx, esm.measurement_id, pid),
                                   _pixels(ctx, cafm.measurement_id, pid), ctx.params.values["pairing"])
        keys = {"measurement_id": quality["pair_id"], "sample_id": sample, "mode": "ESM+CAFM",
                "raw_sha256": esm.raw_sha256}
        quality_rows.append(quality | keys)
        pairs = pairs.assign(**keys)
        yield "afm_pairs", pairs
        del pairs  # before the next pair's pixels are read
    if quality_rows:
        yield "afm_registrations", pd.DataFrame(quality_rows)
