"""DART closed form, co-registration, spec-built Nanoscope int32 + lock-in sidecar, segmentation helpers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from foundation.contract import MissingInformation
from foundation.registry import all_readers
from tasks.afm.dart import sho_from_sidebands, sho_response
from tasks.afm.registration import register_shift
from tasks.afm.segmentation import boundary_distance
from tasks.afm.writers import write_nanoscope


def test_dart_two_sideband_equations_are_exact_without_noise():
    rng = np.random.default_rng(3)
    f0 = rng.uniform(280e3, 390e3, 500)
    q = rng.uniform(20, 200, 500)
    a = rng.uniform(1e-12, 5e-11, 500)
    f1, f2 = f0 - rng.uniform(2e3, 8e3, 500), f0 + rng.uniform(2e3, 8e3, 500)
    got_f0, got_q, got_a = sho_from_sidebands(sho_response(f1, f0, q, a), sho_response(f2, f0, q, a), f1, f2)
    np.testing.assert_allclose(got_f0, f0, rtol=1e-9)
    np.testing.assert_allclose(got_q, q, rtol=1e-7)
    np.testing.assert_allclose(got_a, a, rtol=1e-7)
    # |H(f0)| = A·Q: the documented normalisation of the oscillator
    np.testing.assert_allclose(np.abs(sho_response(f0, f0, q, a)), a * q, rtol=1e-12)


@pytest.mark.parametrize("shift", [(0.37, -1.62), (-2.81, 0.55), (1.13, 3.4)])
def test_coregistration_recovers_subpixel_shift(shift):
    rng = np.random.default_rng(11)
    base = ndimage.gaussian_filter(rng.normal(size=(192, 192)), 3.0)
    moved = ndimage.fourier_shift(np.fft.fft2(base), shift)
    moved = np.real(np.fft.ifft2(moved)) + rng.normal(0, 0.02 * base.std(), base.shape)
    dy, dx = register_shift(base, moved, upsample_factor=50)
    # moving must be shifted by -shift to land on the reference
    assert abs(dy + shift[0]) <= 0.2 and abs(dx + shift[1]) <= 0.2


def _spec_file(tmp_path, with_inputs=True):
    rng = np.random.default_rng(5)
    height_nm = rng.normal(0, 20, (64, 64))
    layers = [{"name": "Height", "key": "Height", "values": height_nm, "sens": "Zsens", "bytes": 4}]
    if with_inputs:
        layers += [{"name": "Input1", "key": "Input1", "values": rng.uniform(-1, 1, (64, 64)), "sens": "Input1"},
                   {"name": "Input2", "key": "Input2", "values": rng.uniform(0.5, 2, (64, 64)), "sens": "Input2"}]
    path = tmp_path / "spec.spm"
    write_nanoscope(path, layers, 20.0, {"Zsens": (25.0, "nm/V"), "Input1": (1.0, ""), "Input2": (1.0, "")})
    return path


def test_nanoscope_int32_and_lockin_sidecar_from_spec(tmp_path):
    """No real int32 Nanoscope file with lock-in inputs exists here: built from the documented format."""
    import pySPM

    path = _spec_file(tmp_path)
    (tmp_path / "spec.spm.lockin.yaml").write_text(
        "drive_amplitude_v: 4.0\ncontact_q: 50\ninputs:\n"
        "  Input1: {signal: frequency, offset: 345000.0, scale: 10000.0, unit: Hz}\n"
        "  Input2: {signal: amplitude, offset: 0.0, scale: 1.0e-9, unit: m}\n")
    from tasks.testing import assert_reader_conforms

    (m,) = assert_reader_conforms(all_readers()["bruker-nanoscope"], path)
    ref = pySPM.Bruker(str(path))
    height_ref = np.asarray(ref.get_channel("Height", backward=True).pixels)  # nm
    h = m.data["Height retrace"] * 1e9
    assert any(np.allclose(h, r, atol=1e-6) for r in (height_ref, np.flipud(height_ref)))
    in1 = np.asarray(ref.get_channel("Input1", backward=True).pixels)
    f = m.data["Input1 retrace"]
    assert m.units["Input1 retrace"] == "Hz" and m.meta["roles"]["Input1 retrace"] == "frequency"
    assert any(np.allclose(f, 345000.0 + 10000.0 * r, rtol=1e-9) for r in (in1, np.flipud(in1)))
    assert m.meta["drive_amplitude_v"] == 4.0 and m.meta["contact_q"] == 50.0 and m.mode == "ESM"
    assert m.meta["scan_size_x_m"] == pytest.approx(20e-6)


def test_lockin_inputs_without_sidecar_are_missing_information(tmp_path):
    path = _spec_file(tmp_path)
    with pytest.raises(MissingInformation, match="lock-in settings"):
        all_readers()["bruker-nanoscope"].read(path, {})
    with pytest.raises(MissingInformation, match="must be given in m"):
        all_readers()["bruker-nanoscope"].read(path, {"lockin": {"inputs": {"Input2": {"signal": "amplitude", "unit": "V"}}}})


def test_truncated_spec_file_is_rejected(tmp_path):
    from tasks.testing import assert_rejects

    path = _spec_file(tmp_path, with_inputs=False)
    data = path.read_bytes()
    (tmp_path / "cut.spm").write_bytes(data[: len(data) - 100])
    assert_rejects(all_readers()["bruker-nanoscope"], tmp_path / "cut.spm", "truncated")


def test_boundary_distance_ignores_image_edge_and_splits_touching():
    labels = np.zeros((40, 40), dtype=np.int32)
    labels[:, :20] = 1           # cut by the left, top and bottom edges
    labels[10:30, 20:30] = 2     # touches particle 1
    d = boundary_distance(labels, 0.1)
    assert d[20, 0] == pytest.approx(19.5 * 0.1)   # far from its only real boundary at x = 20
    assert d[20, 19] == pytest.approx(0.05) and d[20, 20] == pytest.approx(0.05)
    assert d[20, 35] == pytest.approx(0.55)        # matrix: distance to the nearest particle
