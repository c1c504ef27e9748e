"""Nanoscope reader against the header text (hand calculation), SurfaceTopography and pySPM, on every
Nanoscope file of tests/data; refusals name the defect. Expected values never come from our reader."""
from __future__ import annotations

import re

import numpy as np
import pySPM
import pytest
from SurfaceTopography.IO import DIReader
from SurfaceTopography.Support.UnitConversion import get_unit_conversion_factor

from foundation.registry import all_readers
from tasks.testing import assert_reader_conforms, assert_rejects

IMAGES = ["real/afm/di-1.di", "real/afm/di-3.di", "peer/nanoscope/di-4.di", "peer/nanoscope/di-6.di"]
#: unit of a Z-scale value or a sensitivity numerator -> factor to SI, written out by hand for these files
UNIT = {"nm": 1e-9, "V": 1.0, "mV": 1e-3, "º": 1.0, "": 1.0}


def NanoscopeReader():
    return all_readers()["bruker-nanoscope"]


@pytest.fixture(params=IMAGES)
def image(request, real):
    return real.parent / request.param


def _layers(text: str) -> list[dict[str, str]]:
    return [dict(line[1:].partition(": ")[::2] for line in block.splitlines() if line.startswith("\\"))
            for block in text.split("\\*Ciao image list")[1:]]


def test_every_layer_scaled_as_its_header_says(image):
    """count × Z-scale value (in its own unit, mV included) / 2^16 × sensitivity (numerator unit)."""
    (m,) = assert_reader_conforms(NanoscopeReader(), image)
    raw = image.read_bytes()
    text = raw[: raw.index(b"\\*File list end")].decode("latin-1")
    sens = {k: (float(v), u.strip()) for k, v, u in re.findall(r"\\@Sens\. ([^:]+): V ([-0-9.e]+) ?([^\r\n]*)", text)}
    layers = _layers(text)
    assert len(m.data) == len(layers)
    for (channel, values), layer in zip(m.data.items(), layers):
        n, lines = int(layer["Samps/line"]), int(layer["Number of lines"])
        counts = np.frombuffer(raw, "<i2", n * lines, int(layer["Data offset"])).reshape(lines, n)
        zline = layer["@2:Z scale"]
        hard, hard_unit = zline.split(")")[-1].split()  # the LAST value and its unit, not the bracketed V/LSB
        soft, soft_unit = sens[re.search(r"\[Sens\. ([^\]]+)\]", zline).group(1)]
        numerator = soft_unit.split("/")[0] if soft_unit else ""
        expected = counts * float(hard) * UNIT[hard_unit] / 65536 * soft * UNIT[numerator]
        np.testing.assert_allclose(values, expected, rtol=1e-12)
        assert m.units[channel] == {"nm": "m", "": {"mV": "V", "V": "V", "º": "deg"}[hard_unit]}[numerator]


def test_every_channel_agrees_with_surfacetopography(image):
    """ST scales the channels whose sensitivity is a length (heights; di-4's Amplitude Error, 62 nm/V with a
    Z scale in mV) and hands the others back as counts: scaled ones must agree value for value, the
    others must be ours divided by one constant (the per-count scale of the header)."""
    m = NanoscopeReader().read(image, {})
    reader = DIReader(str(image))
    assert len(reader.channels) == len(m.data)
    for info, (channel, ours) in zip(reader.channels, m.data.items()):
        # ST returns heights[x, y] with the slow axis flipped; ours are rows as stored
        theirs = np.flipud(reader.topography(channel_index=info.index).heights().T)
        if isinstance(info.unit, str):
            theirs = theirs * get_unit_conversion_factor(info.unit, "m")
            assert m.units[channel] == "m"
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * np.abs(theirs).max())
            for stat in (lambda a: a.flat[0], lambda a: a.flat[-1], np.mean):
                assert stat(ours) == pytest.approx(stat(theirs), rel=1e-9, abs=1e-20)
        else:
            ratio = ours[theirs != 0] / theirs[theirs != 0]
            assert np.ptp(ratio) <= 1e-12 * abs(ratio[0])
        sx, sy = info.physical_sizes
        lateral = get_unit_conversion_factor(info.unit if isinstance(info.unit, str) else info.unit[0], "m")
        assert m.meta["scan_size_x_m"] == pytest.approx(sx * lateral, rel=1e-12)
        assert m.meta["scan_size_y_m"] == pytest.approx(sy * lateral, rel=1e-12)


def test_di4_amplitude_error_honours_the_mv_of_its_z_scale(peer):
    """The issue's case: '(0.03051758 mV/LSB) 1999.969 mV' with 62 nm/V; ST reads it, 1000x apart before."""
    path = peer / "nanoscope" / "di-4.di"
    m = NanoscopeReader().read(path, {})
    reader = DIReader(str(path))
    st = next(c for c in reader.channels if c.name == "AmplitudeError")
    theirs = reader.topography(channel_index=st.index).heights() * get_unit_conversion_factor(st.unit, "m")
    ours = m.data["Amplitude Error retrace"]
    assert m.units["Amplitude Error retrace"] == "m"
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-12)
    assert np.abs(ours).max() < 2e-6  # a feedback error of nanometres, not millimetres


def test_length_and_phase_channels_agree_with_pyspm(image):
    """pySPM reads the same layers; it reports lengths in nm and phase in degrees (labelled 'V'). It drops
    the prefix of a Z scale in mV (its di-4 Amplitude Error is 1000x SurfaceTopography's), so layers whose
    Z scale is not in plain V or º are left to the SurfaceTopography check above."""
    m = NanoscopeReader().read(image, {})
    spm = pySPM.Bruker(str(image))
    raw = image.read_bytes()
    layers = _layers(raw[: raw.index(b"\\*File list end")].decode("latin-1"))
    compared = 0
    for (channel, ours), layer in zip(m.data.items(), layers):
        if layer["@2:Z scale"].split()[-1] not in ("V", "º"):
            continue
        name, direction = channel.rsplit(" ", 1)
        ref = spm.get_channel(name, backward=direction == "retrace")
        theirs = np.asarray(ref.pixels, dtype=float)
        if ref.zscale == "nm":
            assert m.units[channel] == "m"
            theirs = theirs * 1e-9
        elif m.units[channel] != "deg":
            continue
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * np.abs(theirs).max())
        compared += 1
    assert compared >= 2  # at least a height and the phase of every file


@pytest.mark.parametrize("name", ["peer/nanoscope/bruker_data_header.000", "peer/nanoscope/bruker_data_header.001",
                                  "real/afm/bruker_data_header.003"])
def test_header_only_files_say_so(real, name):
    """pySPM's header fixtures: the header announces layers at offsets past the end of the file. The v5.15
    one (.001) writes 'Scan size' in lower case and was refused for a missing scan size before."""
    path = real.parent / name
    raw = path.read_bytes()
    first = min(int(o) for o in re.findall(rb"\\Data offset: (\d+)", raw) if int(o) > 0)
    assert len(raw) <= first  # independently: no byte of pixel data in the file
    reason = assert_rejects(NanoscopeReader(), path, "header only")
    assert str(len(raw)) in reason and str(first) in reason


def test_force_curve_file_is_refused_as_a_force_curve(peer):
    reason = assert_rejects(NanoscopeReader(), peer / "nanoscope" / "BrukerReader_ForceCurve_Sapphire_TAP525.001",
                            "force curve")
    assert "Force" in reason and "FOL" in reason


def test_truncated_file_names_the_cut_layer(peer):
    path = peer / "nanoscope" / "di_corrupted.di"
    reason = assert_rejects(NanoscopeReader(), path, "truncated")
    assert str(path.stat().st_size) in reason and "'Height'" in reason


def _old_header_file(tmp_path, counts: np.ndarray, current_sens: str = "10.00000 pA/V") -> "Path":
    """A v4.x-style file built from the documented layout: 'AFM image list' section, lower-case keys, the
    scan size only in the scan list as one number with the '~m' (µm) unit, a current layer in pA/V."""
    lines, n = counts.shape
    head = "\r\n".join([
        "\\*File list", "\\Version: 0x04320003", "\\Data length: 2048",
        "\\*Scanner list", "\\@Sens. Zscan: V 20.00000 nm/V", f"\\@Sens. Current: V {current_sens}",
        "\\*Ciao scan list", "\\Operating mode: Image", "\\Scan size: 15 ~m", f"\\Samps/line: {n}", f"\\Lines: {lines}",
        "\\*AFM image list", "\\Data offset: 2048", f"\\Data length: {counts.nbytes}", "\\Bytes/pixel: 2",
        f"\\Samps/line: {n}", f"\\Number of lines: {lines}", "\\Line direction: Trace",
        '\\@2:Image Data: S [Current] "Current"',
        "\\@2:Z scale: V [Sens. Current] (0.0003051758 V/LSB) 500.0000 mV",
        "\\*File list end", ""]).encode("latin-1")
    path = tmp_path / "old_capture.017"
    path.write_bytes(head + b"\0" * (2048 - len(head)) + counts.astype("<i2").tobytes())
    return path


def test_old_header_scan_size_in_scan_list_and_prefixed_units(tmp_path):
    counts = np.arange(-32, 32, dtype=np.int16).reshape(8, 8) * 500
    path = _old_header_file(tmp_path, counts)
    (m,) = assert_reader_conforms(NanoscopeReader(), path)
    assert m.meta["scan_size_x_m"] == pytest.approx(15e-6) and m.meta["scan_size_y_m"] == pytest.approx(15e-6)
    # 0.5 V full scale (500 mV) x 10 pA/V over 2^16 counts
    np.testing.assert_allclose(m.data["Current trace"], counts * 0.5 / 65536 * 10e-12, rtol=1e-12)
    assert m.units["Current trace"] == "A"


def test_sensitivity_in_another_unit_than_the_z_scale_is_flagged(tmp_path):
    counts = np.ones((4, 4), dtype=np.int16)
    path = _old_header_file(tmp_path, counts, current_sens="10.00000 pA/Hz")
    m = NanoscopeReader().read(path, {})
    assert m.units["Current trace"] == "V"  # left in the Z scale's own unit, not silently multiplied
    np.testing.assert_allclose(m.data["Current trace"], counts * 0.5 / 65536)
    assert "pA/Hz" in m.meta["scale_problems"]["Current trace"]
