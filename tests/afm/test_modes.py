"""AFM map modes (tasks/afm/modes.py): every real file classified as its manifest or header says, and
each mode computes only what it supports (ESM pm/V only with a drive and a Q; defaults flagged)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from foundation.contract import ProcessContext
from foundation.parameters import load_params
from tasks.afm.gwy_reader import GwyddionReader
from tasks.afm.ibw_reader import AsylumIbwReader
from tasks.afm.modes import MODES, classify_mode
from tasks.afm.nanoscope_reader import NanoscopeReader
from tasks.afm.plugin import TECHNIQUE
from tasks.afm.process import process
from tasks.afm.writers import write_asylum_ibw
from tasks.testing import assert_nulls_have_reasons

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
PEER = ROOT / "tests" / "data" / "peer"
PARAMS = ROOT / "tasks" / "afm" / "params" / "default.yaml"
READERS = {".ibw": AsylumIbwReader, ".gwy": GwyddionReader, ".di": NanoscopeReader}


def _manifest_rows() -> list[tuple[str, str]]:
    """(file, expected mode) of the real AFM images, from the words of MANIFEST.md's 'what it is'."""
    rows = []
    for line in (REAL / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip(" `") for c in line.split("|")]
        if len(cells) < 8 or not cells[1].startswith("afm/"):
            continue
        what = cells[7].lower()
        if "pfm" in what:
            rows.append((cells[1], "ESM"))
        elif "tapping" in what:
            rows.append((cells[1], "AC"))
    return rows


def _read(path: Path, options=None):
    return READERS[path.suffix]().read(path, options or {})


def _process(m, **overrides):
    params = load_params(PARAMS)
    values = params.values
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        values[section][key] = value
    m.provenance = None
    ctx = ProcessContext(campaign=None, sample=None, params=params, options={}, query=lambda *a, **k: None)
    frames = process(m, ctx)
    assert_nulls_have_reasons(TECHNIQUE.tables, frames)  # every null of a map's features says why (issue 18)
    return frames


def test_manifest_names_the_modes_of_five_real_files():
    assert sorted(mode for _, mode in _manifest_rows()) == ["AC", "AC", "ESM", "ESM", "ESM"]


@pytest.mark.parametrize("name,expected", _manifest_rows())
def test_real_file_classified_as_its_manifest_says(name, expected):
    m = _read(REAL / name)
    assert m.mode == expected, m.meta["mode_evidence"]
    assert m.mode in MODES and m.meta["mode_evidence"]


@pytest.mark.parametrize("name", ["di-4.di", "di-6.di"])
def test_peer_nanoscope_tapping_from_its_header(name):
    path = PEER / "nanoscope" / name
    # the header's own statement of the feedback mode, read here from the raw bytes
    assert re.search(rb'\\@MicroscopeList: S \[TMMode\] "Tapping"', path.read_bytes()[:200_000])
    m = _read(path)
    assert m.mode == "AC" and m.meta["acquisition_mode"] == "Tapping"


@pytest.mark.parametrize("name", ["di-1.di", "di-3.di"])
def test_tapping_topography_lands_as_topography_without_pm_per_v(name):
    m = _read(REAL / "afm" / name)
    frames = _process(m)
    row = frames["afm_maps"].iloc[0]
    assert np.isnan(row.esm_all_mean_pm_per_v) and row.q_source is None and row.drive_amplitude_v is None
    assert frames["afm_pixels"]["esm_amp_pm_per_v"].isna().all()
    # topography, roughness and grain statistics are there
    assert np.isfinite(row.height_all_std_nm) and row.height_all_std_nm > 0 and np.isfinite(row.roughness_rms_nm)
    assert row.n_particles == len(frames["afm_particles"]) and "esm" not in row.quality_flags
    assert (row.n_particles == 0) == ("segmentation_no_particles" in row.quality_flags)
    assert "Tapping" in row.mode_evidence


def _peakforce_file(tmp_path: Path) -> Path:
    """The real ScanAsyst / PeakForce header of peer bruker_data_header.000 (a header-only export, which
    the reader refuses) with pixel data spec-built where that header puts it: each layer's 'Data offset',
    512 x 512 little-endian int16 (the Nanoscope layout), height bumps and a small error signal."""
    raw = (PEER / "nanoscope" / "bruker_data_header.000").read_bytes()
    offsets = [int(v) for v in re.findall(rb"\\Data offset: (\d+)", raw)]
    assert offsets == [40960, 565248]  # the header's own layer table, read from its text
    yy, xx = np.mgrid[0:512, 0:512]
    bumps = sum(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 30.0 ** 2)) for cx, cy in ((150, 150), (360, 300)))
    height = (bumps * 20000 - 5000).astype("<i2").tobytes()
    error = (np.random.default_rng(0).normal(0, 200, (512, 512))).astype("<i2").tobytes()
    body = raw.ljust(offsets[0], b"\x00") + height
    path = tmp_path / "peakforce.di"
    path.write_bytes(body.ljust(offsets[1], b"\x00") + error)
    return path


def test_nanoscope_peakforce_header_is_intermittent_contact_topography(tmp_path):
    path = _peakforce_file(tmp_path)
    head = path.read_bytes()[:40960]
    assert b'[SoftHarmoniXAutoPilot] "ScanAsyst"' in head and b'[SPMFb] "Peak Force"' in head
    m = _read(path)
    assert m.mode == "AC" and "ScanAsyst" in m.meta["mode_evidence"]
    frames = _process(m)  # checks that every null feature says why
    row = frames["afm_maps"].iloc[0]
    assert np.isnan(row.esm_all_mean_pm_per_v) and row.q_source is None and row.drive_amplitude_v is None
    assert np.isfinite(row.height_all_std_nm) and row.height_all_std_nm > 0
    assert "no esm_amp_pm_per_v channel in this AC map" in row.null_reasons


def _raw_asylum_channel(path: Path, label: str) -> tuple[np.ndarray, dict[str, str]]:
    """A layer and the note, straight from igor2 (layer order of the manifest: Height, Amplitude, ...)."""
    from igor2 import binarywave

    wave = binarywave.load(str(path))["wave"]
    note = dict(re.findall(r"([^:\r]+):\s*([^\r]*)", wave["note"].decode("latin-1")))
    index = ["HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace"].index(label)
    return np.asarray(wave["wData"][:, :, index], dtype=np.float64), note


def test_real_pfm_map_without_q_gives_no_pm_per_v_and_says_why():
    path = REAL / "afm" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"
    frames = _process(_read(path))
    row = frames["afm_maps"].iloc[0]
    assert np.isnan(row.esm_all_mean_pm_per_v) and row.q_source is None
    assert "esm_not_computed_no_q_source" in row.quality_flags.split(",") and row.drive_amplitude_v == 1.0
    assert row.n_particles == len(frames["afm_particles"])  # segmented on the raw amplitude


def test_real_pfm_map_with_config_q_is_computed_and_flagged():
    path = REAL / "afm" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"
    amp, note = _raw_asylum_channel(path, "AmplitudeRetrace")
    drive = float(note["DriveAmplitude"])
    frames = _process(_read(path), esm__contact_q=40.0)
    row = frames["afm_maps"].iloc[0]
    assert row.q_source == "config" and "esm_q_from_config_default" in row.quality_flags.split(",")
    assert row.esm_all_mean_pm_per_v == pytest.approx(amp.mean() / (40.0 * drive) * 1e12, rel=1e-5)


def _bumps(n: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n] / n
    return 20e-9 * (np.exp(-((xx - 0.3) ** 2 + (yy - 0.3) ** 2) / 0.01) + np.exp(-((xx - 0.7) ** 2 + (yy - 0.6) ** 2) / 0.01))


def _spec_asylum(tmp_path: Path, channels: dict, note: dict) -> Path:
    path = tmp_path / "spec.ibw"
    write_asylum_ibw(path, channels, {"ScanSize": 2e-6} | note, 2e-6, "spec0001")
    return path


def test_amplitude_without_a_stated_mode_is_not_esm(tmp_path):
    """The issue's case: tapping topography with an Amplitude and a DriveAmplitude but no mode in the note
    was filed as ESM with 151,575 pm/V (spec-built)."""
    h = _bumps()
    path = _spec_asylum(tmp_path, {"HeightRetrace": h, "AmplitudeRetrace": h * 0 + 151.575e-9},
                        {"DriveAmplitude": 1.0})
    m = _read(path)
    assert m.mode == "TOPO" and "not claimed as a strain amplitude" in m.meta["mode_evidence"]
    row = _process(m)["afm_maps"].iloc[0]
    assert np.isnan(row.esm_all_mean_pm_per_v) and row.n_particles == 2  # the two bumps are the grains


def test_asylum_ac_mode_tapping_with_drive_is_topography_not_esm(tmp_path):
    """Spec-built Asylum AC Mode (tapping) map as the MFP-3D/Cypher software writes it: Height, Amplitude and
    Phase retrace layers, 'ImagingMode: AC Mode' and a DriveAmplitude in the note (no real Asylum AC file is
    in tests/data). The drive shakes the cantilever, not the sample: no pm/V, and the map says why."""
    h = _bumps()
    channels = {"HeightRetrace": h, "AmplitudeRetrace": h * 0 + 80e-9, "PhaseRetrace": h * 0 + 75.0}
    m = _read(_spec_asylum(tmp_path, channels, {"ImagingMode": "AC Mode", "DriveAmplitude": 0.2}))
    assert m.mode == "AC" and "AC Mode" in m.meta["mode_evidence"]
    frames = _process(m)
    row = frames["afm_maps"].iloc[0]
    assert np.isnan(row.esm_all_mean_pm_per_v) and row.q_source is None and "esm" not in row.quality_flags
    assert frames["afm_pixels"]["esm_amp_pm_per_v"].isna().all() and row.n_particles == 2
    assert "no esm_amp_pm_per_v channel in this AC map" in row.null_reasons


def test_kpfm_potential_lands_in_volts(tmp_path):
    """Spec-built Asylum nap-mode KPFM map: the potential is kept in V, no ESM, no current."""
    h = _bumps()
    potential = 0.35 + 0.1 * (h > 5e-9)  # grains 100 mV above the matrix
    path = _spec_asylum(tmp_path, {"HeightRetrace": h, "PotentialRetrace": potential},
                        {"ImagingMode": "AC Mode", "NapMode": "On"})
    m = _read(path)
    assert m.mode == "KPFM" and m.units["PotentialRetrace"] == "V"
    row = _process(m)["afm_maps"].iloc[0]
    assert row.potential_all_mean_v == pytest.approx(potential.mean(), rel=1e-6)
    assert row.potential_particles_mean_v - row.potential_matrix_mean_v == pytest.approx(0.1, abs=0.02)
    assert np.isnan(row.esm_all_mean_pm_per_v) and np.isnan(row.current_all_mean_pa)


def test_single_frequency_esm_needs_a_drive(tmp_path):
    h = _bumps()
    amp = 5e-12 + h * 1e-3
    channels = {"HeightRetrace": h, "AmplitudeRetrace": amp, "PhaseRetrace": h * 0 + 90.0}
    m = _read(_spec_asylum(tmp_path, channels, {"ImagingMode": "PFM Mode", "ContactQ": 50.0}))
    assert m.mode == "ESM"
    row = _process(m)["afm_maps"].iloc[0]
    assert np.isnan(row.esm_all_mean_pm_per_v) and row.quality_flags == "esm_not_computed_no_drive_amplitude"
    m = _read(_spec_asylum(tmp_path, channels, {"ImagingMode": "PFM Mode", "ContactQ": 50.0, "DriveAmplitude": 2.0}))
    row = _process(m)["afm_maps"].iloc[0]
    assert row.q_source == "metadata" and row.quality_flags == ""
    assert row.esm_all_mean_pm_per_v == pytest.approx(amp.astype(np.float32).mean() / 100.0 * 1e12, rel=1e-5)


@pytest.mark.parametrize("meta,roles,expected", [
    ({"imaging_mode": "Contact Mode (ORCA)"}, {"h": "height", "c": "current"}, "CAFM"),
    ({"imaging_mode": "DART PFM Mode", "dart_on": True},
     {"h": "height", "a1": "amplitude1", "a2": "amplitude2", "f": "frequency"}, "ESM"),
    ({"imaging_mode": "Contact resonance (HF2LI)", "lockin": {}},
     {"h": "height", "f": "frequency", "a": "amplitude"}, "ESM"),
    ({"imaging_mode": "Contact resonance", "lockin": {}}, {"h": "height", "f": "frequency"}, "CR"),
    ({"imaging_mode": "Image", "acquisition_mode": "PeakForce Tapping"}, {"h": "height"}, "AC"),
    ({"imaging_mode": "Contact"}, {"h": "height", "d": "deflection"}, "TOPO"),
    ({"imaging_mode": "Image", "acquisition_mode": "Kelvin Probe"}, {"h": "height", "p": "potential"}, "KPFM"),
    ({"imaging_mode": ""}, {"i": "current"}, None),  # an STM current image: no AFM mode
])
def test_classifier_vocabulary_spec_built(meta, roles, expected):
    call = classify_mode(meta, roles)
    assert call.mode == expected and call.evidence


# ---------------------------------------------------------------- segmentation confidence

def _segment_flags(frames) -> list[str]:
    return [f for f in frames["afm_maps"].iloc[0].quality_flags.split(",") if f.startswith("segmentation")]


def test_grating_lines_are_flagged_as_stripes_not_particles(peer):
    """A BIPM calibration grating (parallel lines): its 'particles' are stripes."""
    m = _read(peer / "gwy" / "GwiddionReader_bipm.gwy")
    (height,) = m.data.values()
    # independently of the segmentation: with each line's offset removed, the relief is one-dimensional
    # (the profile across the lines, the column means, carries most of it)
    lines = height - height.mean(axis=1, keepdims=True)
    assert lines.mean(axis=0).std() > 0.8 * lines.std()
    frames = _process(m)
    row = frames["afm_maps"].iloc[0]
    assert _segment_flags(frames) == ["segmentation_stripes"] and row.stripe_segment_fraction > 0.9


def test_two_grains_are_plausible(tmp_path):
    """Spec-built: two bumps on a flat film are two well separated particles, no flag."""
    frames = _process(_read(_spec_asylum(tmp_path, {"HeightRetrace": _bumps()}, {"ImagingMode": "Contact"})))
    row = frames["afm_maps"].iloc[0]
    assert row.n_particles == 2 and row.segmentation_class_contrast > 3 and _segment_flags(frames) == []
    assert row.largest_segment_fraction < 0.1


def test_one_segment_over_most_of_the_map_is_flagged(tmp_path):
    """Spec-built PFM map: one domain covering ~88 % of the map is one segment, not a particle."""
    n = 64
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n
    domain = (np.abs(xx - 0.5) < 0.47) & (np.abs(yy - 0.5) < 0.47)
    rng = np.random.default_rng(3)
    channels = {"HeightRetrace": rng.normal(0, 1e-10, (n, n)), "AmplitudeRetrace": 2e-12 + 20e-12 * domain}
    note = {"ImagingMode": "PFM Mode", "DriveAmplitude": 1.0, "ContactQ": 10.0}
    frames = _process(_read(_spec_asylum(tmp_path, channels, note)))
    row = frames["afm_maps"].iloc[0]
    assert _segment_flags(frames) == ["segmentation_one_segment_over_most_of_map"]
    # the domain less its corners, rounded by the smoothing and opening of the segmentation
    assert 0.8 < row.largest_segment_fraction <= domain.mean()


def test_weak_contrast_is_flagged():
    from tasks.afm.segmentation import segmentation_quality

    params = load_params(PARAMS).values["segmentation"]
    rng = np.random.default_rng(1)
    labels = np.zeros((40, 40), np.int32)
    labels[10:20, 10:20] = 1
    contrast = rng.normal(size=labels.shape) + 0.3 * (labels > 0)  # classes 0.3 sigma apart
    values, flags = segmentation_quality(contrast, labels, params)
    assert flags == ["segmentation_low_contrast"] and 0 < values["segmentation_class_contrast"] < 1
    values, flags = segmentation_quality(contrast + 5 * (labels > 0), labels, params)
    assert flags == [] and values["segmentation_class_contrast"] > 3
