"""Particles (NCM) versus matrix from one contrast channel, and each pixel's place in its particle."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from scipy import ndimage
from skimage import feature, filters, measure, morphology, segmentation


def _zscore(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    med = np.nanmedian(x)
    mad = 1.4826 * np.nanmedian(np.abs(x - med), overwrite_input=True) or float(np.nanstd(x)) or 1.0
    return np.where(finite, (x - med) / mad, 0.0)


def contrast_image(primary: np.ndarray, height: np.ndarray | None, height_weight: float) -> np.ndarray:
    """Z-scored segmentation channel (particles high), optionally with some topography mixed in."""
    z = _zscore(primary)
    if height is not None and height_weight:
        z = z + height_weight * _zscore(height)
    return z


def segment_particles(contrast: np.ndarray, pixel_um: float, p: Mapping[str, Any]) -> np.ndarray:
    """Label image (int32, 0 = matrix): smooth, threshold, open, fill, drop small, watershed-split."""
    smooth = filters.gaussian(contrast, sigma=max(p["smooth_sigma_um"] / pixel_um, 0.5), preserve_range=True)
    threshold = filters.threshold_otsu(smooth)
    mask = smooth > threshold
    radius = int(round(p["opening_radius_um"] / pixel_um))
    if radius >= 1:
        mask = binary_opening_disk(mask, radius)
    if p.get("fill_holes", True):
        mask = fill_holes(mask)
    min_px = max(int(p["min_particle_area_um2"] / pixel_um**2), 1)
    mask = morphology.remove_small_objects(mask, max_size=min_px - 1) if min_px > 1 else mask
    return split_touching(mask, pixel_um, p)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes(mask)`` (same pixels): background regions (4-connected) that do
    not reach the image border are holes; one labelling instead of an iterated dilation."""
    background, n = ndimage.label(~mask)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        outside[edge] = True
    outside[0] = False  # label 0 is the foreground
    return mask | ((background > 0) & ~outside[background])


def _disk_rows(radius: int) -> list[tuple[int, int]]:
    """``morphology.disk(radius)`` as rows: (dy, half-width) with dy**2 + dx**2 <= radius**2."""
    return [(dy, int(np.floor(np.sqrt(radius * radius - dy * dy)))) for dy in range(-radius, radius + 1)]


def _disk_morph(mask: np.ndarray, radius: int, erode: bool) -> np.ndarray:
    """Binary erosion (outside the image = background) or dilation by ``morphology.disk(radius)``,
    decomposed exactly into one 1-D min/max filter per distinct row half-width plus shifted AND/OR."""
    img = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    filt = ndimage.minimum_filter1d if erode else ndimage.maximum_filter1d
    rows = {w: filt(img, 2 * w + 1, axis=1, mode="constant", cval=0).view(bool) if w else mask
            for w in {w for _, w in _disk_rows(radius)}}
    ny = mask.shape[0]
    out = np.full(mask.shape, erode, dtype=bool)
    for dy, w in _disk_rows(radius):
        src = rows[w]
        # erosion: out(y) &= row(y + dy); dilation (reflected structure, symmetric): out(y) |= row(y - dy)
        shift = dy if erode else -dy
        lo, hi = max(0, -shift), min(ny, ny - shift)
        if erode:
            out[lo:hi] &= src[lo + shift:hi + shift]
            out[:lo] = False
            out[hi:] = False
        else:
            out[lo:hi] |= src[lo + shift:hi + shift]
    return out


def binary_opening_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """``ndimage.binary_opening(mask, structure=morphology.disk(radius))`` (same pixels), faster."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    return _disk_morph(_disk_morph(mask, radius, erode=True), radius, erode=False)


def split_touching(mask: np.ndarray, pixel_um: float, p: Mapping[str, Any]) -> np.ndarray:
    components = measure.label(mask, connectivity=1)
    if components.max() == 0:
        return components.astype(np.int32)
    dist = ndimage.distance_transform_edt(np.pad(mask, 1, mode="edge"))[1:-1, 1:-1]
    peaks = feature.peak_local_max(dist, min_distance=max(int(p["watershed_min_distance_um"] / pixel_um), 1),
                                   threshold_abs=p["watershed_min_seed_depth_um"] / pixel_um,
                                   labels=components, exclude_border=False)
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    seed_comp = components[tuple(peaks.T)]
    if len(np.unique(seed_comp)) == len(seed_comp):
        # no component holds two seeds: nothing to split, and the flood (4-connected, like the
        # components) would give each seeded component its seed's label and leave the rest 0
        lut = np.zeros(int(components.max()) + 1, dtype=np.int32)
        lut[seed_comp] = np.arange(1, len(peaks) + 1, dtype=np.int32)
        labels = lut[components]
    else:
        labels = segmentation.watershed(-dist, markers, mask=mask).astype(np.int32)
    # components without a seed (thin or small) keep one label each
    orphan = mask & (labels == 0)
    if orphan.any():
        extra = measure.label(orphan, connectivity=1)
        labels[orphan] = extra[orphan] + labels.max()
    return _relabel(labels)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..n in raster order of first appearance (stable across runs)."""
    ids = np.flatnonzero(np.bincount(labels.ravel())[1:]) + 1  # the sorted ids present
    lut = np.zeros(labels.max() + 1, dtype=np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[labels]


def boundary_distance(labels: np.ndarray, pixel_um: float) -> np.ndarray:
    """Distance (µm) from each particle pixel to its particle's boundary (contact with matrix or
    another particle), and from each matrix pixel to the nearest particle. The image edge is not a
    boundary: a particle cut by the edge continues beyond it."""
    padded = np.pad(labels, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = np.zeros(labels.shape, dtype=bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy:dy + labels.shape[0], dx:dx + labels.shape[1]] != centre
    particle = labels > 0
    boundary = particle & differs
    interior = particle & ~differs
    # One transform serves both sides: the non-interior pixel nearest to an interior pixel is always a
    # boundary pixel (a matrix pixel has a 4-neighbour one step closer, which would have to be interior
    # yet touches the matrix), and the particle pixel nearest to a matrix pixel is always a boundary
    # pixel (its neighbour one step closer is matrix). So both distances are to the nearest boundary
    # pixel; edge padding keeps the image edge from acting as a boundary.
    to_boundary = ndimage.distance_transform_edt(np.pad(~boundary, 1, mode="edge"))[1:-1, 1:-1]
    # boundary pixels themselves sit half a pixel from the edge they share
    dist_px = np.where(particle, np.where(interior, to_boundary + 0.5, 0.5), to_boundary - 0.5)
    return (dist_px * pixel_um).astype(np.float32)


def touches_edge(labels: np.ndarray) -> np.ndarray:
    """Boolean per label id (index = id): particle cut by the image border."""
    flags = np.zeros(int(labels.max()) + 1, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        flags[np.unique(edge)] = True
    flags[0] = False
    return flags


def segmentation_quality(contrast: np.ndarray, labels: np.ndarray, p: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    """How far the particles can be believed: class contrast, largest segment, stripe-like segments.

    - class contrast: (mean of particles - mean of matrix) / pooled std of the segmentation channel
      (z-scored), NaN when one class is empty;
    - largest segment: share of the map in its largest segment (after the watershed split, so that
      touching particles of a dense electrode count apart): over most of the map it is no particle;
    - stripe segments: share of the segmented area in connected regions whose bounding box spans most
      of one image axis and is at least 5 times longer than wide (scan lines or gratings, not particles).
    Flags name each implausibility against the thresholds of ``segmentation.plausibility``.
    """
    limits = p["plausibility"]
    particles = labels > 0
    inside, outside = contrast[particles], contrast[~particles]
    pooled = float(np.sqrt(0.5 * (inside.var() + outside.var()))) if inside.size and outside.size else np.nan
    separation = (float(inside.mean() - outside.mean()) / pooled if pooled > 0 else np.inf) if np.isfinite(pooled) else np.nan
    sizes = np.bincount(labels.ravel())[1:]
    largest = float(sizes.max() / labels.size) if sizes.size else 0.0
    # stripes on connected regions: the watershed may cut one long stripe into short pieces
    regions = measure.label(particles, connectivity=1)
    areas = np.bincount(regions.ravel())[1:]
    stripe_px = 0
    for pid, box in enumerate(ndimage.find_objects(regions), start=1):
        if box is None:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        spans = w >= limits["stripe_span_fraction"] * labels.shape[1] or h >= limits["stripe_span_fraction"] * labels.shape[0]
        if spans and max(h, w) >= 5 * min(h, w):
            stripe_px += int(areas[pid - 1])
    stripes = float(stripe_px / particles.sum()) if particles.any() else 0.0
    flags = [] if particles.any() else ["segmentation_no_particles"]  # the contrast is then NaN
    if np.isfinite(separation) and separation < limits["min_class_contrast"]:
        flags.append("segmentation_low_contrast")
    if largest > limits["max_segment_fraction"]:
        flags.append("segmentation_one_segment_over_most_of_map")
    if stripes > 0.5:
        flags.append("segmentation_stripes")
    return {"segmentation_class_contrast": separation, "largest_segment_fraction": largest,
            "stripe_segment_fraction": stripes}, flags
