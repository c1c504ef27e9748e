"""AFM readers on the real vendor files, checked against independently parsed values."""
from __future__ import annotations

import re

import numpy as np
import pytest

from foundation.registry import all_readers
from tasks.testing import assert_reader_conforms


def AsylumIbwReader():  # the registered instances: the conformance kit checks identity
    return all_readers()["asylum-ibw"]


def NanoscopeReader():
    return all_readers()["bruker-nanoscope"]


def GwyddionReader():
    return all_readers()["gwyddion-gwy"]

IBW_IMAGES = {"IgorIBWReader_ImageStack_BTFO_DSO.ibw": 4, "IgorIBWReader_P0089OP0027.ibw": 5}


@pytest.mark.parametrize("name", sorted(IBW_IMAGES))
def test_asylum_ibw_matches_igor2_raw(real, name):
    from igor2 import binarywave

    path = real / "afm" / name
    (m,) = assert_reader_conforms(AsylumIbwReader(), path)
    wave = binarywave.load(str(path))["wave"]
    raw = path.read_bytes()
    # labels: the raw 32-byte label fields of dimension 2, cut at NUL, found independently in the bytes
    expected_labels = [lab.split(b"\0")[0].decode() for lab in re.findall(rb"(?:Height|Amplitude|Deflection|Phase|UserIn0)(?:Retrace|Trace)[^\0]*\0",
                                                                          raw)]
    assert list(m.data) == [lab for lab in expected_labels][: IBW_IMAGES[name]]
    assert all("racerace" not in c and not c.endswith("tracee") for c in m.data)
    note = wave["note"].decode("latin-1")
    fast = float(re.search(r"\rFastScanSize: ([^\r]+)", note).group(1))
    slow = float(re.search(r"\rSlowScanSize: ([^\r]+)", note).group(1))
    assert m.meta["scan_size_x_m"] == fast and m.meta["scan_size_y_m"] == slow == 2e-6
    assert m.meta["drive_amplitude_v"] == float(re.search(r"\rDriveAmplitude: ([^\r]+)", note).group(1))
    assert m.meta["imaging_mode"] == "PFM Mode"
    for k, ch in enumerate(m.data):
        np.testing.assert_array_equal(m.data[ch], wave["wData"][:, :, k].T)
        assert m.data[ch].shape == (256, 256)
    assert m.units["PhaseRetrace"] == "deg" and m.units["HeightRetrace"] == "m" and m.units["AmplitudeRetrace"] == "m"
    height = m.data["HeightRetrace"]
    assert 0 < np.ptp(height) < 2e-6  # heights plausible for a 2 µm scan
    assert m.mode == "ESM"


def test_map_without_an_afm_mode_is_refused_by_process(peer):
    """An STM tunnelling-current image (no height, no AFM mode stated) is kept raw, not processed; a
    tapping topography is processed (tests/afm/test_modes.py)."""
    from foundation.contract import MissingInformation
    from foundation.parameters import load_params
    from foundation.registry import read_measurements
    from tasks.afm.signals import extract_signals

    name = "20230110-152047_ScV6Sn6-2023-01-10-STM_NANOPROBE_AtomManipulation--37_1-I 3_Backward_Down.ibw"
    _, (m,) = read_measurements(peer / "ibw" / name, "0" * 64, name, technique_name="afm")
    params = load_params("tasks/afm/params/default.yaml").values
    assert m.mode is None
    with pytest.raises(MissingInformation, match="no AFM imaging mode"):
        extract_signals(m, params)
