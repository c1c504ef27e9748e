"""Per-pattern analysis: locate the NCM lattice, fit every reflection group, refine a, c and strain.

Pure function of arrays and settings (the ``peaks``, ``phases``, ``lattice_search``, ``lattice``
and ``strain`` sections of the parameter set); no I/O, no warehouse.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from foundation.contract import UnreadableFile
from tasks.sxpd.calibration import caglioti_fwhm
from tasks.sxpd.crystallography import (
    Reflections,
    cubic_reflections,
    d_hexagonal,
    lorentz_polarisation,
    ncm_reflections,
    two_theta_deg,
)
from tasks.sxpd.lattice import LatticeFit, WilliamsonHall, fit_lattice, williamson_hall
from tasks.sxpd.peakfit import fit_groups, group_reflections
from tasks.sxpd.search import excess, template_score


@dataclass
class Instrument:
    wavelength_angstrom: float
    zero_offset_deg: float
    caglioti_uvw_deg2: tuple[float, float, float]

    def fwhm(self, two_theta: np.ndarray) -> np.ndarray:
        return caglioti_fwhm(two_theta, *self.caglioti_uvw_deg2)


@dataclass
class PatternAnalysis:
    lattice: LatticeFit | None
    strain: dict[str, WilliamsonHall]
    peaks: dict[str, np.ndarray]
    search_a: float
    search_c: float
    n_groups: int
    n_iterations: int
    flags: list[str] = field(default_factory=list)


def _phase_candidates(phases: dict[str, Any], wavelength: float, d_min: float, lo: float, hi: float,
                      min_rel: float) -> tuple[tuple[Reflections, np.ndarray], ...]:
    """Reflections (and 2θ) of the other phases worth fitting between ``lo`` and ``hi``."""
    specs = tuple((name, spec.get("element", name), float(spec["a_angstrom"]), spec["lattice"])
                  for name, spec in phases.items())
    return _cubic_phase_candidates(specs, wavelength, d_min, lo, hi, min_rel)


@lru_cache(maxsize=16)
def _cubic_phase_candidates(specs: tuple[tuple[str, str, float, str], ...], wavelength: float, d_min: float,
                            lo: float, hi: float, min_rel: float) -> tuple[tuple[Reflections, np.ndarray], ...]:
    """``_phase_candidates`` for (name, element, a, lattice) specs: the phases' own lattices are fixed,
    so this is the same for every pattern of a wavelength and angular range."""
    out = []
    for name, element, a, lattice in specs:
        refl = cubic_reflections(name, element, a, lattice, d_min)
        tt = two_theta_deg(refl.d_angstrom, wavelength)
        inside = np.isfinite(tt) & (tt > lo) & (tt < hi)
        if not inside.any():
            continue
        lp = refl.intensity * lorentz_polarisation(np.where(inside, tt, 90.0))
        keep = inside & (lp >= min_rel * lp[inside].max())
        kept = Reflections(name, refl.h[keep], refl.k[keep], refl.l[keep], refl.d_angstrom[keep], lp[keep])
        kept_tt = tt[keep]
        for values in (kept.h, kept.k, kept.l, kept.d_angstrom, kept.intensity, kept_tt):
            values.flags.writeable = False  # shared by every pattern through the cache
        out.append((kept, kept_tt))
    return tuple(out)


@lru_cache(maxsize=16)
def _search_template(wavelength: float, d_min: float, a_range: tuple[float, float], c_range: tuple[float, float],
                     n_reflections: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(h, k, l, weight) of the strongest NCM reflections at the middle of the searched cell."""
    ref = ncm_reflections(0.5 * (a_range[0] + a_range[1]), 0.5 * (c_range[0] + c_range[1]), d_min)
    tt = two_theta_deg(ref.d_angstrom, wavelength)
    lp = np.where(np.isfinite(tt), ref.intensity * lorentz_polarisation(np.nan_to_num(tt, nan=90.0)), 0.0)
    top = np.argsort(-lp)[:n_reflections]
    template = (ref.h[top], ref.k[top], ref.l[top], np.sqrt(lp[top] / lp[top].max()))
    for values in template:
        values.flags.writeable = False  # shared by every pattern through the cache
    return template


def _nearest_samples(x0: float, step: float, n: int, wavelength: float, h: np.ndarray, k: np.ndarray,
                     l: np.ndarray, a_grid: np.ndarray, c_grid: np.ndarray) -> np.ndarray:
    """[a, c, reflection] index of the sample nearest each predicted 2θ on the uniform axis x0 + i·step.

    ``n`` (one past the last sample) where the reflection falls outside the axis or out of reach.
    1/d² = s/a² + l²/c² is built by broadcasting and the index computed straight from sin θ.
    """
    # float32 is ample for the coarse grid: it places a reflection to ~1e-7 of its angle, i.e.
    # well within the nearest sample, and halves the memory traffic of these [a, c, reflection]
    # arrays; the (small) fine grid that decides the result stays in float64
    f32 = np.float32 if len(a_grid) * len(c_grid) > 2000 else np.float64
    s_ab = 4.0 / 3.0 * (h * h + h * k + k * k)
    l2 = (l * l).astype(float)
    q = (s_ab[None, None, :] / (a_grid * a_grid)[:, None, None]).astype(f32) \
        + (l2[None, None, :] / (c_grid * c_grid)[None, :, None]).astype(f32)
    ratio = np.sqrt(q, out=q)
    ratio *= f32(0.5 * wavelength)
    valid = ratio < 1.0
    np.minimum(ratio, f32(1.0), out=ratio)  # ratio ≥ 1: no reflection
    pos = np.arcsin(ratio, out=ratio)
    pos *= f32(np.degrees(2.0) / step)
    pos -= f32(x0 / step)
    inside = valid & (pos > 0) & (pos < n - 1)
    np.rint(pos, out=pos)
    pos[~inside] = n
    return pos.astype(np.intp)


def _coarse_grid(bounds: tuple[float, float], step: float) -> np.ndarray:
    return np.arange(bounds[0], bounds[1] + step, step)


def _fine_grid(centre: float, coarse_step: float) -> np.ndarray:
    """Around the best coarse value, a tenth of the coarse step, one coarse step either side."""
    return centre + np.arange(-coarse_step, coarse_step + 1e-12, coarse_step / 10)


@lru_cache(maxsize=8)
def _coarse_samples(x0: float, step: float, n: int, wavelength: float, d_min: float, a_range: tuple[float, float],
                    c_range: tuple[float, float], n_reflections: int, da: float, dc: float) -> np.ndarray:
    """``_nearest_samples`` on the coarse (a, c) grid: the same for every pattern of an axis and wavelength."""
    h, k, l, _ = _search_template(wavelength, d_min, a_range, c_range, n_reflections)
    index = _nearest_samples(x0, step, n, wavelength, h, k, l, _coarse_grid(a_range, da), _coarse_grid(c_range, dc))
    index.flags.writeable = False
    return index


def search_lattice(x: np.ndarray, signal: np.ndarray, wavelength: float, settings: dict[str, Any],
                   d_min: float) -> tuple[float, float]:
    """Grid search of (a, c) maximising the template score of the strongest NCM reflections."""
    a_range = (float(settings["a_range_angstrom"][0]), float(settings["a_range_angstrom"][1]))
    c_range = (float(settings["c_range_angstrom"][0]), float(settings["c_range_angstrom"][1]))
    n_reflections = int(settings.get("n_reflections", 16))
    h, k, l, weight = _search_template(wavelength, d_min, a_range, c_range, n_reflections)
    da, dc = float(settings.get("coarse_step_a_angstrom", 0.0015)), float(settings.get("coarse_step_c_angstrom", 0.006))
    a_coarse, c_coarse = _coarse_grid(a_range, da), _coarse_grid(c_range, dc)
    n = len(x)
    step = (x[-1] - x[0]) / max(n - 1, 1)
    if not (n > 1 and np.abs(np.diff(x) - step).max() < 1e-3 * step):
        def best(a_grid: np.ndarray, c_grid: np.ndarray) -> tuple[float, float]:
            A, C = np.meshgrid(a_grid, c_grid, indexing="ij")
            d = d_hexagonal(h[None, :], k[None, :], l[None, :], A.reshape(-1, 1), C.reshape(-1, 1))
            score = template_score(x, signal, two_theta_deg(d, wavelength), weight)
            i = int(np.argmax(score))
            return float(A.reshape(-1)[i]), float(C.reshape(-1)[i])

        a1, c1 = best(a_coarse, c_coarse)
        return best(_fine_grid(a1, da), _fine_grid(c1, dc))

    # uniform axis (I11 reductions are): the same score as ``template_score`` — the smoothed signal
    # at the sample nearest each predicted 2θ — with a zero appended for the reflections that miss
    root = np.empty(n + 1)
    np.sqrt(signal, out=root[:n])
    root[n] = 0.0

    def best_of(index: np.ndarray, a_grid: np.ndarray, c_grid: np.ndarray) -> tuple[float, float]:
        score = root[index] @ weight
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        return float(a_grid[i]), float(c_grid[j])

    x0 = float(x[0])
    a1, c1 = best_of(_coarse_samples(x0, step, n, wavelength, d_min, a_range, c_range, n_reflections, da, dc),
                     a_coarse, c_coarse)
    a_fine, c_fine = _fine_grid(a1, da), _fine_grid(c1, dc)
    return best_of(_nearest_samples(x0, step, n, wavelength, h, k, l, a_fine, c_fine), a_fine, c_fine)


def width_model(two_theta: np.ndarray, instrument: Instrument, settings: dict[str, Any]) -> np.ndarray:
    """Starting FWHM: instrument width ⊕ (size term + strain term × tanθ)."""
    t = np.tan(np.radians(two_theta) / 2.0)
    sample = float(settings.get("initial_size_fwhm_deg", 0.015)) + float(settings.get("initial_strain_fwhm_deg", 0.2)) * t
    return np.sqrt(instrument.fwhm(two_theta) ** 2 + sample**2)


def phase_widths(two_theta: np.ndarray, phase: np.ndarray, instrument: Instrument, peaks_cfg: dict[str, Any],
                 phases: dict[str, Any]) -> np.ndarray:
    """Starting FWHM per reflection: the NCM width model, or a phase's own size/strain terms.

    Al foil and Li metal are well-crystallised: their lines are several times narrower than the
    NCM ones, and a phase that states ``initial_size_fwhm_deg``/``initial_strain_fwhm_deg`` starts
    from them (else from the NCM model), so LM does not spend its iterations shrinking them.
    """
    fwhm = width_model(two_theta, instrument, peaks_cfg)
    for name, spec in phases.items():
        own = {k: spec[k] for k in ("initial_size_fwhm_deg", "initial_strain_fwhm_deg") if k in spec}
        sel = phase == name
        if own and sel.any():
            fwhm[sel] = width_model(two_theta[sel], instrument, {**peaks_cfg, **own})
    return fwhm


#: fewer usable points than this in the analysed 2θ range: no background, peak search or fit is possible
MIN_ANALYSED_POINTS = 20


def analysed_range(two_theta: np.ndarray, intensity: np.ndarray, sigma: np.ndarray, instrument: Instrument,
                   peaks_cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(2θ − zero, intensity, σ, lo, hi) of the usable points inside the analysed range."""
    zero = instrument.zero_offset_deg
    lo = max(float(peaks_cfg["min_two_theta_deg"]), float(two_theta[0]) - zero)
    hi = min(float(peaks_cfg["max_two_theta_deg"]), float(two_theta[-1]) - zero)
    # every reader checks that 2θ strictly increases (pattern.py): the range is a slice, and a
    # boolean selection (a copy) is needed only when there are unusable points in it
    first, stop = int(np.searchsorted(two_theta, lo + zero, "left")), int(np.searchsorted(two_theta, hi + zero, "right"))
    x, y, s = two_theta[first:stop] - zero, intensity[first:stop], sigma[first:stop]
    good = np.isfinite(y) & (s > 0)
    if not good.all():
        x, y, s = x[good], y[good], s[good]
    if x.size < MIN_ANALYSED_POINTS:
        raise UnreadableFile(
            f"the pattern covers 2θ {float(two_theta[0]):g}–{float(two_theta[-1]):g}° and has {x.size} usable points "
            f"inside the analysed range {float(peaks_cfg['min_two_theta_deg']):g}–"
            f"{float(peaks_cfg['max_two_theta_deg']):g}° (parameter set peaks.min/max_two_theta_deg): too few to "
            "find peaks; it is a partial scan or needs a parameter set for its range")
    return x, y, s, lo, hi


def fit_candidates(x: np.ndarray, y: np.ndarray, s: np.ndarray, pos0: np.ndarray, fwhm0: np.ndarray,
                   fixed: np.ndarray, peaks_cfg: dict[str, Any]):
    """Group the candidate reflections and fit every window (``peakfit.fit_groups``, batched LM)."""
    groups, fitted = group_reflections(pos0, fwhm0, float(peaks_cfg["join_fwhm"]),
                                       float(peaks_cfg["half_window_fwhm"]), int(peaks_cfg["max_peaks_per_group"]))
    centre = 0.5 * (groups.lo + groups.hi)
    asym = centre < float(peaks_cfg["asymmetry_below_deg"])
    fit = fit_groups(x, y, s, groups, pos0, fwhm0, fixed, asym,
                     max_iterations=int(peaks_cfg.get("max_iterations", 40)),
                     position_slack_fwhm=float(peaks_cfg.get("position_slack_fwhm", 1.5)),
                     max_points=int(peaks_cfg.get("max_points_per_window", 160)),
                     tolerance=float(peaks_cfg.get("chi2_tolerance", 1e-6)),
                     step_tolerance_sigma=float(peaks_cfg.get("step_tolerance_sigma", 0.05)))
    return groups, fitted, fit


def usable_reflections(fit, fitted: np.ndarray, of_phase: np.ndarray, pos0: np.ndarray, fwhm0: np.ndarray,
                       params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(usable for the lattice, crowded): a reflection is resolved when no other fitted reflection of
    its window sits within ``min_separation_fwhm`` widths (coincident peaks trade intensity and
    position freely); usable when also significant and not pinned at the edge of its position slack."""
    peaks_cfg = params["peaks"]
    sep = np.abs(pos0[:, None] - pos0[None, :])
    same = (fit.group[:, None] == fit.group[None, :]) & (fit.group[:, None] >= 0)
    np.fill_diagonal(same, False)
    crowded = (same & (sep < float(params["lattice"]["min_separation_fwhm"]) * fwhm0[:, None])).any(axis=1)
    usable = (fitted & of_phase & ~crowded & np.isfinite(fit.position_sigma)
              & (fit.position_sigma > 0) & (fit.area > float(params["lattice"]["min_area_sigma"]) * fit.area_sigma)
              & (np.abs(fit.position - pos0) < 0.95 * float(peaks_cfg.get("position_slack_fwhm", 1.5)) * fwhm0))
    return usable, crowded


def analyse_pattern(two_theta: np.ndarray, intensity: np.ndarray, sigma: np.ndarray, instrument: Instrument,
                    params: dict[str, Any]) -> PatternAnalysis:
    peaks_cfg = params["peaks"]
    lam = instrument.wavelength_angstrom
    x, y, s, lo, hi = analysed_range(two_theta, intensity, sigma, instrument, peaks_cfg)
    flags: list[str] = []
    d_min = lam / (2.0 * np.sin(np.radians(hi) / 2.0))
    signal = excess(x, y, float(peaks_cfg.get("background_window_deg", 0.6)), float(peaks_cfg.get("smooth_deg", 0.01)))
    a_s, c_s = search_lattice(x, signal, lam, params["lattice_search"], d_min)

    lattice: LatticeFit | None = None
    a_cur, c_cur = a_s, c_s
    fwhm_known: dict[tuple[str, int, int, int], float] = {}
    n_passes = int(peaks_cfg.get("passes", 2))
    for pass_index in range(n_passes):
        ncm = ncm_reflections(a_cur, c_cur, d_min)
        tt = two_theta_deg(ncm.d_angstrom, lam)
        inside = np.isfinite(tt) & (tt > lo + 0.05) & (tt < hi - 0.05)
        lp = np.where(inside, ncm.intensity * lorentz_polarisation(np.where(inside, tt, 90.0)), 0.0)
        sel = inside & (lp >= float(peaks_cfg["min_relative_intensity"]) * lp.max())
        phase = ["NCM"] * int(sel.sum())
        hkl = [np.column_stack([ncm.h[sel], ncm.k[sel], ncm.l[sel]])]
        pos = [tt[sel]]
        rel = [lp[sel] / lp.max()]
        for refl, ptt in _phase_candidates(params.get("phases", {}), lam, d_min, lo + 0.05, hi - 0.05,
                                           float(peaks_cfg["min_relative_intensity"])):
            phase += [refl.phase] * len(refl)
            hkl.append(np.column_stack([refl.h, refl.k, refl.l]))
            pos.append(ptt)
            rel.append(refl.intensity / refl.intensity.max())
        phase_arr = np.array(phase)
        is_ncm = phase_arr == "NCM"
        hkl_arr = np.concatenate(hkl).astype(int)
        pos0 = np.concatenate(pos)
        fwhm0 = phase_widths(pos0, phase_arr, instrument, peaks_cfg, params.get("phases", {}))
        if fwhm_known:  # a later pass starts from the widths the previous one fitted
            for i, key in enumerate(zip(phase, *hkl_arr.T)):
                if key in fwhm_known and np.isfinite(fwhm_known[key]):
                    fwhm0[i] = fwhm_known[key]
        groups, fitted, fit = fit_candidates(x, y, s, pos0, fwhm0, ~is_ncm, peaks_cfg)
        usable, crowded = usable_reflections(fit, fitted, is_ncm, pos0, fwhm0, params)
        lattice = fit_lattice(hkl_arr[usable], fit.position[usable], fit.position_sigma[usable], lam, a_cur, c_cur,
                              bool(params["lattice"]["refine_zero_shift"]),
                              float(params["lattice"]["outlier_sigma"]))
        if lattice is None:
            flags.append("lattice_underdetermined")
            break
        a_cur, c_cur = lattice.a, lattice.c
        if pass_index + 1 < n_passes:
            fwhm_known = {k: f for k, f in zip(zip(phase, *hkl_arr.T), fit.fwhm)}
    used = np.zeros(len(pos0), dtype=bool)
    residual = np.full(len(pos0), np.nan)
    if lattice is not None:
        idx = np.flatnonzero(usable)
        used[idx] = lattice.used
        residual[idx] = lattice.residual_deg

    strain, peaks = strain_and_peaks(fit, fitted, usable, crowded, used, residual, phase_arr, hkl_arr, pos0,
                                     instrument, params)
    return PatternAnalysis(lattice, strain, peaks, a_s, c_s, len(groups.lo), fit.n_iterations, flags)


def strain_and_peaks(fit, fitted: np.ndarray, usable: np.ndarray, crowded: np.ndarray, used: np.ndarray,
                     residual: np.ndarray, phase_arr: np.ndarray, hkl_arr: np.ndarray, pos0: np.ndarray,
                     instrument: Instrument, params: dict[str, Any]) -> tuple[dict[str, WilliamsonHall], dict[str, np.ndarray]]:
    """Williamson–Hall of the ``usable`` reflections (all, 00l, hk0) and the per-reflection record."""
    lam = instrument.wavelength_angstrom
    inst = instrument.fwhm(fit.position)
    cfg = params["strain"]
    wh_ok = usable & np.isfinite(fit.fwhm_sigma)
    h_, k_, l_ = hkl_arr.T
    families = {"overall": wh_ok, "00l": wh_ok & (h_ == 0) & (k_ == 0), "hk0": wh_ok & (l_ == 0)}
    strain = {name: williamson_hall(fit.position[m], fit.fwhm[m], fit.fwhm_sigma[m], inst[m], lam,
                                    float(cfg["scherrer_k"]), int(cfg["min_reflections_per_family"]))
              for name, m in families.items()}
    peaks = {"phase": phase_arr, "h": h_, "k": k_, "l": l_, "predicted_deg": pos0 + instrument.zero_offset_deg,
             "position_deg": fit.position + instrument.zero_offset_deg, "position_sigma_deg": fit.position_sigma,
             "fwhm_deg": fit.fwhm, "fwhm_sigma_deg": fit.fwhm_sigma, "area": fit.area, "area_sigma": fit.area_sigma,
             "eta": fit.eta, "asymmetry": fit.alpha, "group": fit.group, "group_chi2_red": fit.group_chi2_red,
             "fitted": fitted, "converged": fit.converged, "resolved": ~crowded, "used_in_lattice": used, "lattice_residual_deg": residual,
             "instrument_fwhm_deg": inst}
    return strain, peaks
