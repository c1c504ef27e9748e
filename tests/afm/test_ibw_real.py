"""Igor waves against igor2, on every .ibw of tests/data: what each wave is decides read or refusal,
and a read wave agrees with igor2's array, units and scaling. Text and 1-D waves are spec-built with
igorwriter (no real file of those kinds is at hand)."""
from __future__ import annotations

import numpy as np
import pytest
from igor2 import binarywave
from igorwriter import IgorWave

from foundation.registry import all_readers
from tasks.testing import assert_reader_conforms, assert_rejects

STM_IMAGE = "20230110-152047_ScV6Sn6-2023-01-10-STM_NANOPROBE_AtomManipulation--37_1-I 3_Backward_Down.ibw"
STM_CITS = "20230110-152047_ScV6Sn6-2023-01-10-STM_NANOPROBE_AtomManipulation--37_1-Aux2(V) 3_Forward_Down_Trace.ibw"
ASYLUM_STACKS = ["IgorIBWReader_ImageStack_BTFO_DSO.ibw", "IgorIBWReader_P0089OP0027.ibw"]


def IbwReader():
    return all_readers()["asylum-ibw"]


def _unit(value) -> str:
    return b"".join(value).decode("latin-1")


def test_stm_current_image_read_with_the_units_of_its_wave_header(peer):
    """A 256-point x 58-line STM current image (Omicron MATRIX export): values in A, x/y scaled in m."""
    path = peer / "ibw" / STM_IMAGE
    (m,) = assert_reader_conforms(IbwReader(), path)
    wave = binarywave.load(str(path))["wave"]
    header = wave["wave_header"]
    assert _unit(header["dataUnits"]) == "A" and _unit(header["dimUnits"][0]) == _unit(header["dimUnits"][1]) == "m"
    (channel,) = m.data
    np.testing.assert_array_equal(m.data[channel], np.asarray(wave["wData"]).T)  # rows = y lines
    assert m.data[channel].shape == (58, 256)
    assert m.units[channel] == "A" and m.meta["roles"][channel] == "current"
    nx, ny = (int(n) for n in header["nDim"][:2])
    assert m.meta["scan_size_x_m"] == pytest.approx(float(header["sfA"][0]) * nx, rel=1e-12)
    assert m.meta["scan_size_y_m"] == pytest.approx(float(header["sfA"][1]) * ny, rel=1e-12)
    assert m.meta["scan_size_x_m"] == pytest.approx(5e-9)  # the note: 'Width = 5e-009 [m]'
    assert m.mode is None  # an STM image: no AFM imaging mode is claimed


@pytest.mark.parametrize("name", ASYLUM_STACKS)
def test_asylum_stack_scaling_agrees_with_the_wave_header(real, name):
    """The note's scan size and the wave's own x/y scaling (sfA x points, in m) describe the same area
    (Asylum's step is size/(n-1)); arrays are igor2's layer by layer, transposed to rows = lines."""
    path = real / "afm" / name
    m = IbwReader().read(path, {})
    header = binarywave.load(str(path))["wave"]["wave_header"]
    assert _unit(header["dimUnits"][0]) == "m"
    n = int(header["nDim"][0])
    assert m.meta["scan_size_x_m"] == pytest.approx(float(header["sfA"][0]) * (n - 1), rel=1e-9)


def test_spectroscopy_cube_is_refused_as_a_cube(peer):
    """The CITS export: 64 x 8 pixels x 256 bias points (third axis in V), not 256 image channels of unit 1."""
    path = peer / "ibw" / STM_CITS
    header = binarywave.load(str(path))["wave"]["wave_header"]
    assert [int(n) for n in header["nDim"][:3]] == [64, 8, 256] and _unit(header["dimUnits"][2]) == "V"
    reason = assert_rejects(IbwReader(), path, "3-D cube of shape (64, 8, 256)")
    assert "spectroscopy volume" in reason and "256 points" in reason


def test_unscaled_wave_has_no_physical_size(peer):
    """SurfaceTopography's 10x10 fixture: x/y step 1 with no unit, no note — never a 10 m scan."""
    path = peer / "ibw" / "10x10-one_channel_without_name.ibw"
    header = binarywave.load(str(path))["wave"]["wave_header"]
    assert list(header["sfA"][:2]) == [1.0, 1.0] and _unit(header["dimUnits"][0]) == ""
    assert_rejects(IbwReader(), path, "no physical size")


def test_force_curve_says_it_is_one(real):
    reason = assert_rejects(IbwReader(), real / "afm" / "IgorIBWReader_ForceCurve.ibw", "force curve")
    assert "1261 points" in reason and "Defl" in reason and "ZSnsr" in reason


def test_one_dimensional_and_text_waves_say_what_they_are(tmp_path):
    trace = IgorWave(np.linspace(0.0, 1.0, 50), name="trace")
    trace.set_dimscale("x", 0, 0.1, "s")
    trace.set_datascale("V")
    trace.save(str(tmp_path / "trace.ibw"))
    IgorWave(np.array(["a", "bb", "ccc"]), name="labels").save(str(tmp_path / "labels.ibw"))
    reason = assert_rejects(IbwReader(), tmp_path / "trace.ibw", "1-D Igor wave of 50 points")
    assert "force" not in reason
    reason = assert_rejects(IbwReader(), tmp_path / "labels.ibw", "text wave of 3 strings")
    assert "force" not in reason


def test_scaled_single_image_in_nanometres_is_converted(tmp_path):
    """A 2-D wave with x/y in nm and values in nm (spec-built): sizes and heights come out in metres."""
    values = np.arange(12.0).reshape(4, 3)  # Igor order: x (4 points) first
    wave = IgorWave(values, name="topo")
    wave.set_dimscale("x", 0, 2.5, "nm")
    wave.set_dimscale("y", 0, 2.5, "nm")
    wave.set_datascale("nm")
    wave.save(str(tmp_path / "topo.ibw"))
    (m,) = assert_reader_conforms(IbwReader(), tmp_path / "topo.ibw")
    np.testing.assert_allclose(m.data["topo"], values.T * 1e-9)
    assert m.units["topo"] == "m" and m.meta["roles"]["topo"] == "height"
    assert m.meta["scan_size_x_m"] == pytest.approx(10e-9) and m.meta["scan_size_y_m"] == pytest.approx(7.5e-9)


def test_ac_mode_topography_is_not_claimed_as_esm(tmp_path):
    """An Asylum AC-mode (tapping) map records 'AmplitudeRetrace' = cantilever oscillation: no ESM."""
    from tasks.afm.writers import write_asylum_ibw

    flat = np.zeros((8, 8))
    channels = {"HeightRetrace": flat + 1e-9, "AmplitudeRetrace": flat + 2e-9, "PhaseRetrace": flat + 90.0}
    write_asylum_ibw(tmp_path / "tapping.ibw", channels, {"ImagingMode": "AC Mode", "ScanSize": 1e-6},
                     1e-6, "tapping0001")
    (m,) = assert_reader_conforms(IbwReader(), tmp_path / "tapping.ibw")
    assert m.meta["imaging_mode"] == "AC Mode" and m.mode == "AC"
