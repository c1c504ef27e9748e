"""Each technique's declared warnings (Technique.warnings) run on real files: the SQL is run, as the
platform runs it, over the technique's own output for one file registered under its current_* view.
Expected values from the files themselves (the vendor library's clock, the Igor note's DriveAmplitude),
never from our output."""
from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.afm.test_modes import _process, _read


def _run(sql: str, view: str, frame: pd.DataFrame) -> pd.DataFrame:
    con = duckdb.connect()
    con.register(view, frame.assign(sample_id="S", raw_sha256="f" * 64, measurement_id="m1"))
    out = con.execute(sql).df()
    out.columns = ["sample_id", "raw_sha256", "subject", "message"]
    return out


def test_clock_jumps_of_a_real_neware_file_are_one_warning(real):
    fastnda = pytest.importorskip("fastnda")
    from tasks.echem.plugin import READERS, WARNINGS

    path = real / "echem/neware/20260302_IFE_BTS85_2_9_8_1.ndax"
    unix = fastnda.read(str(path))["unix_time_s"].to_numpy()
    jumps = int((np.diff(unix) < 0).sum())  # the vendor library's own clock: steps backwards
    reader = next(r for r in READERS if r.name == "neware-nda")
    w = _run(WARNINGS["clock_jump"], "current_echem_series", reader.read(path, {}).data)
    assert len(w) == 1 and w.raw_sha256.iloc[0] == "f" * 64
    assert f"stepped backwards {jumps} time(s)" in w.message.iloc[0]


def test_a_real_pfm_map_without_q_is_an_uncorrected_esm_warning(real):
    from tasks.afm.plugin import WARNINGS

    path = real / "afm" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"
    note = path.read_bytes().decode("latin-1")
    drive = float(re.search(r"DriveAmplitude:\s*([0-9.eE+-]+)", note).group(1))  # the header text
    assert "ContactQ" not in note
    maps = _process(_read(path))["afm_maps"].assign(mode="ESM")
    w = _run(WARNINGS["esm_uncorrected"], "current_afm_maps", maps)
    assert len(w) == 1 and "esm_not_computed_no_q_source" in w.message.iloc[0]
    assert f"drive {drive} V" in w.message.iloc[0] and "Q from nowhere" in w.message.iloc[0]


def test_a_grating_is_an_implausible_segmentation_warning(peer):
    from tasks.afm.plugin import WARNINGS

    maps = _process(_read(peer / "gwy" / "GwiddionReader_bipm.gwy"))["afm_maps"].assign(mode="TOPO")
    w = _run(WARNINGS["segmentation_implausible"], "current_afm_maps", maps)
    assert len(w) == 1 and "segmentation_stripes" in w.message.iloc[0]
    assert _run(WARNINGS["esm_uncorrected"], "current_afm_maps", maps).empty  # not an ESM map
