"""Gwyddion files against gwyfile (Gwyddion 2) and against the bytes laid out as Gwyddion's format
documentation and its 1.x loader describe (Gwyddion 1.x GWYO, which gwyfile does not read)."""
from __future__ import annotations

import struct

import gwyfile
import numpy as np
import pytest

from foundation.registry import all_readers
from tasks.afm.gwyo import read_object
from tasks.testing import assert_reader_conforms, assert_rejects

GWYO_FILES = {"GwiddionReader_bipm.gwy": 500, "GwiddionReader_chip.gwy": 300}


def GwyddionReader():
    return all_readers()["gwyddion-gwy"]


def test_gwyddion2_file_matches_gwyfile(real):
    path = real / "afm" / "PTO_110_Virgin0001.gwy"
    (m,) = assert_reader_conforms(GwyddionReader(), path)
    container = gwyfile.load(str(path))
    fields = gwyfile.util.get_datafields(container)
    assert list(m.data) == list(fields)
    for title, df in fields.items():
        np.testing.assert_array_equal(m.data[title], df.data)
        assert (m.meta["scan_size_x_m"], m.meta["scan_size_y_m"]) == (df.xreal, df.yreal)
        assert df["si_unit_xy"]["unitstr"] == "m"
        if df["si_unit_z"]["unitstr"] == "m" and m.meta["roles"][title] != "phase":
            assert m.units[title] == "m"
    meta = container["/0/meta"]
    assert m.meta["drive_amplitude_v"] == float(meta["DriveAmplitude"])
    assert m.meta["imaging_mode"] == meta["ImagingMode"]
    assert m.units["PhaseRetrace"] == "deg" and m.mode == "ESM"  # Asylum PFM Mode, stated in its note
    assert 0 < np.ptp(m.data["HeightRetrace"]) < 10e-6


def test_field_without_lateral_unit_has_no_physical_size(real):
    """gwyfile's own test file: 128 x 128 'real' size with no unit at all — not 128 metres."""
    path = real / "afm" / "gwyfile_test.gwy"
    df = gwyfile.load(str(path))["/0/data"]
    assert df["si_unit_xy"]["unitstr"] == "" and df.xreal == 128.0
    assert_rejects(GwyddionReader(), path, "no physical size")


def test_object_parser_agrees_with_gwyfile_on_a_gwyddion2_file(real):
    """The GWYP-style object layer of gwyo.py, run on a Gwyddion 2 file, gives gwyfile's fields."""
    path = real / "afm" / "PTO_110_Virgin0001.gwy"
    ours, end = read_object(path.read_bytes(), 4)
    assert end == path.stat().st_size
    for key, df in gwyfile.load(str(path)).items():
        if key.endswith("/data") and isinstance(df, gwyfile.objects.GwyDataField):
            np.testing.assert_array_equal(ours[key]["data"], df["data"])
            assert ours[key]["xreal"] == df["xreal"] and ours[key]["si_unit_z"]["unitstr"] == df["si_unit_z"]["unitstr"]


@pytest.mark.parametrize("name", sorted(GWYO_FILES))
def test_gwyddion1_file_read_as_its_bytes_say(peer, name):
    """pycroscopy's Gwyddion 1.x samples (GWYO): values are the doubles after 'data\\0D' + count, in metres
    although the unit string says 'nm' (Gwyddion drops stored prefixes); size is the xreal double."""
    path = peer / "gwy" / name
    raw = path.read_bytes()
    assert raw[:4] == b"GWYO"
    with pytest.raises(Exception):
        gwyfile.load(str(path))  # why we parse it ourselves
    at = raw.index(b"data\0D") + 6
    count = struct.unpack_from("<I", raw, at)[0]
    expected = np.frombuffer(raw, "<f8", count, at + 4)
    xreal = struct.unpack_from("<d", raw, raw.index(b"xreal\0d") + 7)[0]
    n = GWYO_FILES[name]
    assert count == n * n

    (m,) = assert_reader_conforms(GwyddionReader(), path)
    (channel,) = m.data
    values = m.data[channel]
    assert values.shape == (n, n)
    np.testing.assert_array_equal(values.ravel(), expected)
    assert values.flat[0] == expected[0] and values.flat[-1] == expected[-1]
    assert values.mean() == pytest.approx(expected.mean(), rel=1e-12)
    assert m.meta["scan_size_x_m"] == m.meta["scan_size_y_m"] == xreal
    assert m.units[channel] == "m" and m.meta["roles"][channel] == "height"
    assert m.meta["unit_prefixes_dropped"] == {f"{channel} z": "nm", f"{channel} xy": "µm"}
    assert 1e-9 < np.ptp(values) < xreal  # a relief of nanometres to micrometres over the scan
    assert m.mode == "TOPO" and "no imaging mode stated" in m.meta["mode_evidence"]  # a bare height field


def test_damaged_gwyddion1_file_is_refused(peer, tmp_path):
    damaged = tmp_path / "cut.gwy"
    damaged.write_bytes((peer / "gwy" / "GwiddionReader_chip.gwy").read_bytes()[:5000])
    assert_rejects(GwyddionReader(), damaged, "Gwyddion 1.x (GWYO) file is damaged")
