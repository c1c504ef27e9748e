"""Demo generator: Asylum .ibw maps of the cumulative samples, Nanoscope maps of the polished ones.

Difficulty (SCIENCE.md): touching particles, ESM white noise at a per-pixel SNR <= 5, tilt >= 50 nm,
line offsets, scars, topography contrast <= 2x the roughness. Ground-truth particle labels go to
``truth_root/afm/<sample>/<file stem>.npz`` (never on the share).
"""
from __future__ import annotations

import zlib

import numpy as np
import yaml

from foundation.contract import DemoRequest
from tasks.afm import demo_world as w
from tasks.afm.dart import sho_response
from tasks.afm.writers import write_asylum_ibw, write_nanoscope
from tasks.demo_world import MISLABELLED_SOC_PCT

DART_WIDTH_HZ = 10_000.0
ESM_SNR = 3.5            # per sideband / lock-in input; the averaged amplitude stays below 5
ROUGHNESS_NM = 8.0
PARTICLE_STEP_NM = 12.0  # < 2 x roughness: topography alone cannot segment
LOCKIN = {  # HF2LI settings of the polished ESM maps (also written as sidecars)
    "lockin": "Zurich Instruments HF2LI (demo)",
    "drive_amplitude_v": 4.0,
    "contact_q": 50.0,
    "inputs": {"Input1": {"signal": "frequency", "offset": 345000.0, "scale": 10000.0, "unit": "Hz"},
               "Input2": {"signal": "amplitude", "offset": 0.0, "scale": 1.0e-9, "unit": "m"}},
}


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng([seed] + [zlib.crc32(str(p).encode()) for p in parts])


def _height_nm(rng: np.random.Generator, site: w.Site, labels: np.ndarray, x0: float, y0: float, n: int,
               px: float) -> np.ndarray:
    rough = ROUGHNESS_NM * w.texture(site.texture_k, site.texture_amp, site.texture_phase, x0, y0, n, px)
    dist = w.boundary_distance_um(labels, px)
    dome = PARTICLE_STEP_NM * np.tanh(dist / 0.3)
    yy, xx = np.mgrid[0:n, 0:n] / n
    theta = rng.uniform(0, 2 * np.pi)
    tilt = rng.uniform(60, 150) * (np.cos(theta) * xx + np.sin(theta) * yy)
    lines = rng.normal(0, 4.0, size=(n, 1))
    z = rough + dome + tilt + lines + rng.normal(0, 0.5, size=(n, n))
    for _ in range(int(rng.integers(3, 7))):  # scars: short streaks along the fast axis
        row, start = int(rng.integers(1, n - 1)), int(rng.integers(0, n - 10))
        z[row, start: start + int(rng.integers(5, max(n // 8, 6)))] += rng.choice([-1, 1]) * 40.0
    return z


def _esm_truth(site: w.Site, labels: np.ndarray, dist: np.ndarray, soc: float, matrix_ratio: float) -> np.ndarray:
    factors = np.array([1.0] + [p.esm_factor for p in site.particles])
    particle = factors[labels] * w.rim_step(dist, w.at_soc(w.RIM_CORE_RATIO, soc))
    return np.where(labels > 0, particle, matrix_ratio)


def _site_for(seed: int, sample: str, loc: int, polished: bool, soc: float) -> w.Site:
    rng = _rng(seed, sample, loc, "site")
    spread = w.at_soc(w.ESM_SPREAD, soc)
    if polished:
        return w.make_site(rng, 20.0, (3, 6), (2.6, 4.5), (0.35, 0.75), spread)
    return w.make_site(rng, 5.0, (2, 3), (1.0, 1.9), (0.45, 0.8), spread)


def _save_truth(req: DemoRequest, sample: str, stem: str, labels: np.ndarray, **extra: float) -> None:
    folder = req.truth_root / "afm" / sample
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{stem}.npz", labels=labels, **{k: np.asarray(v) for k, v in extra.items()})


def _asylum_note(mode: str, n: int, size_m: float, loc: int, sample: str) -> dict[str, object]:
    note: dict[str, object] = {
        "ScanSize": size_m, "FastScanSize": size_m, "SlowScanSize": size_m, "ScanRate": 1.0,
        "ScanPoints": n, "ScanLines": n, "PointsLines": n, "ScanAngle": 0,
        "SpringConstant": 2.8, "InvOLS": 6.2e-8, "AmpInvOLS": 6.2e-8, "ThermalQ": 180.0,
        "Date": "2026-05-06", "Time": f"{9 + loc % 8}:{10 + loc:02d}:00 AM", "Version": "16.10.211 (demo)",
        "ImageNote": f"{sample} location {loc:02d}",
    }
    if mode == "ESM":
        note |= {"ImagingMode": "DART PFM Mode", "DriveAmplitude": 2.0, "DriveFrequency": 330000.0,
                 "DFRTOn": 1, "DFRTFrequencyCenter": 330000.0, "DFRTFrequencyWidth": DART_WIDTH_HZ,
                 "Setpoint": 0.2, "TipVoltage": 0.0}
    elif mode == "CAFM":
        note |= {"ImagingMode": "Contact Mode (ORCA)", "OrcaGain": 1e-9 / 5.0, "SurfaceVoltage": 1.0,
                 "TipVoltage": 0.0, "Setpoint": 0.2}
    return note


def _cumulative_map(req: DemoRequest, sample: str, loc: int, mode: str, n: int) -> None:
    soc = req.campaign.sample(sample).soc_nominal_pct or 0.0
    site = _site_for(req.seed, sample, loc, False, soc)
    rng = _rng(req.seed, sample, loc, mode)
    px = site.size_um / n
    x0, y0 = (0.0, 0.0) if mode == "ESM" else tuple(rng.uniform(0.05, 0.12, size=2) * rng.choice([-1, 1], size=2))
    labels = w.site_labels(site, x0, y0, n, px)
    dist = w.boundary_distance_um(labels, px)
    height_m = _height_nm(rng, site, labels, x0, y0, n, px) * 1e-9
    stem = f"{sample}_loc{loc:02d}_{mode.lower()}"
    size_m = site.size_um * 1e-6
    if mode == "ESM":
        shape = _esm_truth(site, labels, dist, soc, matrix_ratio=0.35)
        target = w.CUMULATIVE_ESM_PM_PER_V[sample] * rng.normal(1.0, 0.03)
        esm = shape * target / shape.mean()
        f0 = np.where(labels > 0, 335e3 + 12e3 * (w.rim_step(dist, 1.6) - 1), 300e3)
        q = np.where(labels > 0, 60.0, 40.0)
        a = esm * 1e-12 * 2.0
        fc = f0 + rng.normal(0, 300.0, size=f0.shape)  # DART tracking error
        f1, f2 = fc - DART_WIDTH_HZ / 2, fc + DART_WIDTH_HZ / 2
        m1, m2 = sho_response(f1, f0, q, a), sho_response(f2, f0, q, a)
        sigma1 = np.abs(m1[labels > 0]).mean() / ESM_SNR
        sigma2 = np.abs(m2[labels > 0]).mean() / ESM_SNR
        channels = {
            "HeightRetrace": height_m,
            "Amplitude1Retrace": np.abs(np.abs(m1) + rng.normal(0, sigma1, size=m1.shape)),
            "Amplitude2Retrace": np.abs(np.abs(m2) + rng.normal(0, sigma2, size=m2.shape)),
            "Phase1Retrace": np.degrees(np.angle(m1)) + rng.normal(0, 2.0, size=m1.shape),
            "Phase2Retrace": np.degrees(np.angle(m2)) + rng.normal(0, 2.0, size=m2.shape),
            "FrequencyRetrace": fc,
        }
        truth = {"esm_mean_pm_per_v": float(esm.mean()), "rim_core_ratio": w.at_soc(w.RIM_CORE_RATIO, soc)}
    else:
        target = w.CUMULATIVE_CURRENT_PA[sample] * rng.normal(1.0, 0.03)
        particle = 0.3 * target * w.rim_step(dist, 1.5)
        frac = (labels == 0).mean()
        particle_sum = particle[labels > 0].sum() / labels.size
        matrix = max((target - particle_sum) / max(frac, 0.05), 0.0)
        current = np.where(labels > 0, particle, matrix)
        current = current + rng.normal(0, 2.0, size=current.shape) + 0.05 * current * rng.normal(size=current.shape)
        channels = {"HeightRetrace": height_m, "DeflectionRetrace": rng.normal(0, 2e-10, size=(n, n)),
                    "CurrentRetrace": current * 1e-12}
        truth = {"current_mean_pa": float(np.mean(current))}
    folder = req.share_root / "afm" / sample
    folder.mkdir(parents=True, exist_ok=True)
    write_asylum_ibw(folder / f"{stem}.ibw", channels, _asylum_note(mode, n, size_m, loc, sample), size_m,
                     wave_name=f"{sample.replace('-', '')}{loc:04d}")
    _save_truth(req, sample, stem, labels, shift_x_um=x0, shift_y_um=y0, **truth)


_SENS = {"Zsens": (25.0, "nm/V"), "Input1": (1.0, ""), "Input2": (1.0, ""), "Friction": (1.0, ""),
         "tunaSens": (10.0, "pA/V")}


def _polished_map(req: DemoRequest, sample: str, loc: int, mode: str, n: int) -> None:
    soc = req.campaign.sample(sample).soc_nominal_pct or 0.0
    site = _site_for(req.seed, sample, loc, True, soc)
    rng = _rng(req.seed, sample, loc, mode)
    px = site.size_um / n
    x0, y0 = (0.0, 0.0) if mode == "ESM" else tuple(rng.uniform(0.1, 0.25, size=2) * rng.choice([-1, 1], size=2))
    labels = w.site_labels(site, x0, y0, n, px)
    dist = w.boundary_distance_um(labels, px)
    height_m = _height_nm(rng, site, labels, x0, y0, n, px) * 1e-9
    stem = f"{sample}_loc{loc:02d}_{mode.lower()}"
    folder = req.share_root / "afm" / sample
    folder.mkdir(parents=True, exist_ok=True)
    ratio = w.at_soc(w.RIM_CORE_RATIO, soc)
    if mode == "ESM":
        shape = _esm_truth(site, labels, dist, soc, matrix_ratio=0.1)
        esm = shape * w.at_soc(w.POLISHED_ESM_PM_PER_V, soc) / shape[labels > 0].mean()
        amp_v = esm * 1e-12 * LOCKIN["drive_amplitude_v"] * LOCKIN["contact_q"] / LOCKIN["inputs"]["Input2"]["scale"]
        amp_v = np.abs(amp_v + rng.normal(0, amp_v[labels > 0].mean() / ESM_SNR * 1.3, size=amp_v.shape))
        crf_hz = np.where(labels > 0, 345e3 + 0.25e3 * soc + 10e3 * (ratio - 1) / 0.6 * (w.rim_step(dist, 2.0) - 1),
                          310e3) + rng.normal(0, 1500.0, size=labels.shape)
        crf_v = (crf_hz - LOCKIN["inputs"]["Input1"]["offset"]) / LOCKIN["inputs"]["Input1"]["scale"]
        layers = [
            {"name": "Height", "key": "Height", "values": height_m * 1e9, "sens": "Zsens", "bytes": 4},
            {"name": "Input1", "key": "Input1", "values": crf_v, "sens": "Input1"},
            {"name": "Input2", "key": "Input2", "values": amp_v, "sens": "Input2"},
        ]
        (folder / f"{stem}.spm.lockin.yaml").write_text(yaml.safe_dump(LOCKIN, sort_keys=False), encoding="utf-8")
        truth = {"esm_particles_mean_pm_per_v": float(esm[labels > 0].mean()), "rim_core_ratio": ratio}
    else:
        mean_pa, frac_c = w.at_soc(w.POLISHED_CURRENT_PA, soc), w.at_soc(w.CONDUCTIVE_FRACTION, soc)
        field = w.texture(site.patch_k, None, site.patch_phase, x0, y0, n, px) + 0.8 * (dist < 0.5)
        inside = labels > 0
        cut = np.quantile(field[inside], 1 - frac_c)
        conductive = inside & (field > cut)
        current = np.where(conductive, mean_pa / frac_c, np.where(inside, 0.05, 0.0))
        current = current + rng.normal(0, 0.15, size=current.shape)
        friction = np.where(inside, 0.30, 0.10) + rng.normal(0, 0.06, size=current.shape)
        layers = [
            {"name": "Height", "key": "Height", "values": height_m * 1e9, "sens": "Zsens", "bytes": 4},
            {"name": "Friction", "key": "Lateral", "values": friction, "sens": "Friction"},
            {"name": "TUNA Current", "key": "TunaCurrent", "values": current, "sens": "tunaSens"},
        ]
        truth = {"current_particles_mean_pa": float(current[inside].mean())}
    write_nanoscope(folder / f"{stem}.spm", layers, site.size_um, _SENS,
                    header={"Operating mode": "Contact" if mode == "CAFM" else "Contact resonance (HF2LI)",
                            "Note": f"{sample} location {loc:02d}"})
    _save_truth(req, sample, stem, labels, shift_x_um=x0, shift_y_um=y0, **truth)


def counts(profile: str) -> dict[str, int]:
    if profile == "small":
        return {"cum_esm": 2, "cum_cafm": 1, "cum_px": 128, "pol_esm": 1, "pol_cafm": 1, "pol_px": 256}
    return {"cum_esm": 10, "cum_cafm": 5, "cum_px": 256, "pol_esm": 2, "pol_cafm": 2, "pol_px": 512}


def _uncorrected_pfm_map(req: DemoRequest, sample: str, n: int) -> None:
    """A plain single-frequency PFM map as Asylum writes it by default: drive 1 V, no ContactQ, no lock-in
    sidecar, so there is no Q source and no pm/V (the platform flags it: esm_uncorrected)."""
    rng = _rng(req.seed, sample, 1, "PFM")
    site = _site_for(req.seed, sample, 1, False, MISLABELLED_SOC_PCT[sample])
    px = site.size_um / n
    labels = w.site_labels(site, 0.0, 0.0, n, px)
    amplitude = np.where(labels > 0, 1.2e-11, 0.4e-11) * rng.normal(1.0, 0.05, size=labels.shape)
    note = _asylum_note("PFM", n, site.size_um * 1e-6, 1, sample)
    note |= {"ImagingMode": "PFM Mode", "DriveAmplitude": 1.0, "DriveFrequency": 330000.0, "TipVoltage": 0.0}
    channels = {"HeightRetrace": _height_nm(rng, site, labels, 0.0, 0.0, n, px) * 1e-9,
                "AmplitudeRetrace": np.abs(amplitude), "PhaseRetrace": rng.normal(90.0, 3.0, size=labels.shape)}
    folder = req.share_root / "afm" / sample
    folder.mkdir(parents=True, exist_ok=True)
    write_asylum_ibw(folder / f"{sample}_loc01_pfm.ibw", channels, note, site.size_um * 1e-6,
                     wave_name=f"{sample.replace('-', '')}0001")
    _save_truth(req, sample, f"{sample}_loc01_pfm", labels)


def demo(req: DemoRequest) -> None:
    c = counts(req.profile)
    for sample in req.campaign.samples:
        if sample.id in MISLABELLED_SOC_PCT:
            _uncorrected_pfm_map(req, sample.id, c["cum_px"])
        elif sample.series == "cumulative":
            for loc in range(1, c["cum_esm"] + 1):
                _cumulative_map(req, sample.id, loc, "ESM", c["cum_px"])
            for loc in range(1, c["cum_cafm"] + 1):
                _cumulative_map(req, sample.id, loc, "CAFM", c["cum_px"])
        elif sample.series == "polished" and sample.id in ("P-CH100", "P-DC50", "P-DC0"):
            for loc in range(1, c["pol_esm"] + 1):
                _polished_map(req, sample.id, loc, "ESM", c["pol_px"])
            for loc in range(1, c["pol_cafm"] + 1):
                _polished_map(req, sample.id, loc, "CAFM", c["pol_px"])
