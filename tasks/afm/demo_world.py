"""The AFM demo world: particles, textures and per-SOC signal levels (SCIENCE.md targets).

A *site* is one location on one sample, defined in continuous coordinates (µm) so that an ESM map
and a C-AFM map of the same site, taken with a small stage drift, see exactly the same surface.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# SCIENCE.md "Demo campaign targets", AFM part
CUMULATIVE_ESM_PM_PER_V = {"C-PRI": 12.0, "C-F0": 8.0, "C-CH50": 6.0, "C-CH100": 4.0, "C-DC50": 5.5, "C-DC0": 7.5}
CUMULATIVE_CURRENT_PA = {"C-PRI": 40.0, "C-F0": 30.0, "C-CH50": 22.0, "C-CH100": 14.0, "C-DC50": 20.0, "C-DC0": 28.0}
_SOC = [0.0, 50.0, 100.0]
POLISHED_ESM_PM_PER_V = [10.0, 6.0, 4.0]
ESM_SPREAD = [0.45, 0.30, 0.20]
RIM_CORE_RATIO = [1.6, 1.25, 1.05]
POLISHED_CURRENT_PA = [2.0, 1.2, 0.6]
CONDUCTIVE_FRACTION = [0.6, 0.4, 0.25]


def at_soc(values: list[float], soc_pct: float) -> float:
    return float(np.interp(soc_pct, _SOC, values))


@dataclass
class Particle:
    x_um: float
    y_um: float
    rx_um: float
    ry_um: float
    angle: float
    esm_factor: float


@dataclass
class Site:
    size_um: float
    particles: list[Particle]
    texture_k: np.ndarray  # (n, 2) wave vectors, rad/µm
    texture_amp: np.ndarray
    texture_phase: np.ndarray
    patch_k: np.ndarray    # conductive-patch field modes
    patch_phase: np.ndarray


def _modes(rng: np.random.Generator, n: int, wavelength_um: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    lam = rng.uniform(*wavelength_um, size=n)
    theta = rng.uniform(0, 2 * np.pi, size=n)
    k = (2 * np.pi / lam)[:, None] * np.column_stack([np.cos(theta), np.sin(theta)])
    return k, rng.uniform(0, 2 * np.pi, size=n)


def make_site(rng: np.random.Generator, size_um: float, n_range: tuple[int, int], r_range: tuple[float, float],
              fill_range: tuple[float, float], spread: float) -> Site:
    """Particles of which at least a third touch a neighbour, covering ``fill_range`` of the area."""
    for _ in range(200):
        n = int(rng.integers(n_range[0], n_range[1] + 1))
        parts: list[Particle] = []
        for i in range(n):
            r = rng.uniform(*r_range)
            rx, ry = r * rng.uniform(0.85, 1.15), r * rng.uniform(0.85, 1.15)
            if parts and (i % 2 == 1 or rng.random() < 0.3):
                host = parts[int(rng.integers(len(parts)))]
                ang = rng.uniform(0, 2 * np.pi)
                d = 0.9 * (max(host.rx_um, host.ry_um) + max(rx, ry))
                x, y = host.x_um + d * np.cos(ang), host.y_um + d * np.sin(ang)
            else:
                x, y = rng.uniform(0, size_um), rng.uniform(0, size_um)
            factor = float(np.clip(rng.lognormal(0.0, 0.6 * spread), 0.7, 1.5))
            parts.append(Particle(x, y, rx, ry, rng.uniform(0, np.pi), factor))
        site = Site(size_um, parts, *_texture(rng))
        grid = site_labels(site, 0.0, 0.0, 96, size_um / 96)
        fill = (grid > 0).mean()
        touching = _touching_fraction(grid)
        if fill_range[0] <= fill <= fill_range[1] and touching >= 0.34 and len(np.unique(grid)) > 1:
            return site
    return site


def _texture(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k, phase = _modes(rng, 120, (0.15, 1.5))
    amp = rng.normal(0, 1, size=120)
    amp /= np.sqrt((amp**2).sum() / 2)  # unit RMS
    pk, pphase = _modes(rng, 40, (0.6, 4.0))
    return k, amp, phase, pk, pphase


def _touching_fraction(labels: np.ndarray) -> float:
    ids = [i for i in np.unique(labels) if i > 0]
    if len(ids) < 2:
        return 0.0
    touching = 0
    for i in ids:
        ring = ndimage.binary_dilation(labels == i, iterations=2) & (labels > 0) & (labels != i)
        touching += bool(ring.any())
    return touching / len(ids)


def _grid(x0: float, y0: float, n: int, px: float) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(n) + 0.5) * px
    return np.meshgrid(x0 + c, y0 + c)


def _normalised_radius(p: Particle, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    dx, dy = xx - p.x_um, yy - p.y_um
    ca, sa = np.cos(p.angle), np.sin(p.angle)
    u, v = (dx * ca + dy * sa) / p.rx_um, (-dx * sa + dy * ca) / p.ry_um
    return np.hypot(u, v)


def site_labels(site: Site, x0: float, y0: float, n: int, px: float) -> np.ndarray:
    """Ground-truth particle labels on a grid whose corner is at (x0, y0) µm."""
    xx, yy = _grid(x0, y0, n, px)
    radii = np.stack([_normalised_radius(p, xx, yy) for p in site.particles])
    best = np.argmin(radii, axis=0)
    inside = np.min(radii, axis=0) <= 1.0
    return np.where(inside, best + 1, 0).astype(np.int32)


def texture(k: np.ndarray, amp: np.ndarray | None, phase: np.ndarray, x0: float, y0: float, n: int,
            px: float) -> np.ndarray:
    xx, yy = _grid(x0, y0, n, px)
    out = np.zeros((n, n))
    weights = amp if amp is not None else np.full(len(phase), np.sqrt(2.0 / len(phase)))
    for (kx, ky), a, ph in zip(k, weights, phase):
        out += a * np.cos(kx * xx + ky * yy + ph)
    return out


def boundary_distance_um(labels: np.ndarray, px: float) -> np.ndarray:
    """Truth distance of particle pixels to their particle's edge (image border is not an edge)."""
    dist = np.zeros(labels.shape)
    for i in np.unique(labels[labels > 0]):
        d = ndimage.distance_transform_edt(np.pad(labels == i, 1, mode="edge"))[1:-1, 1:-1]
        dist = np.where(labels == i, d * px, dist)
    return dist


def rim_step(dist_um: np.ndarray, ratio: float, width_um: float = 0.25) -> np.ndarray:
    """1 in the core, ``ratio`` within ``width_um`` of the boundary, smooth over ~50 nm."""
    return 1.0 + (ratio - 1.0) / (1.0 + np.exp((dist_um - width_um) / 0.04))
