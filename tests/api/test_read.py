"""``socscope.read``: a real file of every technique, values checked against an independent reading of
the same file (the format's own text with pandas/numpy, or gwyfile for Gwyddion)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import socscope

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
FILES = {  # technique -> a real file of it
    "afm": REAL / "afm" / "di-3.di",
    "echem": REAL / "echem" / "arbin" / "sample_data_arbin.csv",
    "nexafs": REAL / "xas" / "NiK_references" / "ni_metal_rt.xdi",
    "sxpd": REAL / "sxpd" / "i11_si_standard_1410696" / "1410696_summed_mythen3.xye",
}


def test_the_acceptance_one_liner_works_for_a_file_of_each_technique():
    """The issue's line, verbatim in a fresh interpreter, once per technique."""
    code = ("import socscope\n"
            f"for f in {[str(p) for p in FILES.values()]!r}:\n"
            "    m = socscope.read(f); print(m.technique, m.data.shape, m.units)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(FILES)
    assert lines[0].startswith("afm (4, 256, 256)")  # header: 4 images of 256 x 256 (Nanoscope v9.10)


def test_a_nanoscope_map_is_a_dataarray_with_named_dims_and_metric_coordinates():
    m = socscope.read(FILES["afm"])
    assert m.technique == "afm" and m.reader.name == "bruker-nanoscope" and str(m.reader).startswith("bruker-nanoscope@")
    assert m.data.dims == ("channel", "y", "x")
    # the header says "Scan Size: 10 10 ~m" and 256 samples per line: pixel centres 10 um / 256 apart
    assert np.allclose(np.diff(m.data.x.values), 10e-6 / 256)
    assert m.data.x.attrs["units"] == "m" and m.units["x"] == "m"
    height = m.channel("Height Sensor trace")
    assert height.dims == ("y", "x") and height.attrs["units"] == "m"
    assert m.data.sel(channel="Phase retrace").unit.item() == "deg"


def test_a_gwyddion_map_holds_the_values_gwyfile_reads(real):
    import gwyfile

    path = real / "afm" / "PTO_110_Virgin0001.gwy"
    m = socscope.read(path)
    fields = gwyfile.util.get_datafields(gwyfile.load(str(path)))
    assert set(m.data.channel.values) == set(fields)
    for name, field in fields.items():
        assert np.array_equal(m.channel(name).values, field.data)
        assert m.data.x.values[-1] + m.data.x.values[0] == pytest.approx(field.xreal)  # centres span xreal


def test_a_cycler_file_is_a_dataframe_in_si_units_with_the_files_values():
    m = socscope.read(FILES["echem"])
    text = pd.read_csv(FILES["echem"], encoding="utf-8-sig")
    assert isinstance(m.data, pd.DataFrame) and len(m.data) == len(text) == 13
    assert np.allclose(m.data["voltage_v"], text["Voltage (V)"])
    assert np.allclose(m.data["current_a"], text["Current (A)"])
    assert m.units["voltage_v"] == "V" and m.data.attrs["units"]["current_a"] == "A"
    assert m.meta["timezone_source"].startswith("default")  # naive times: the default is said, not hidden


def test_a_spectrum_and_a_pattern_are_dataframes_with_the_files_columns():
    xas = socscope.read(FILES["nexafs"])
    cols = np.loadtxt(FILES["nexafs"], comments="#")
    assert np.allclose(xas.data["energy_ev"], cols[:, 0]) and xas.units["energy_ev"] == "eV"
    assert xas.meta["edge"] == "Ni_K"  # the XDI header's Element.symbol / Element.edge
    xrd = socscope.read(FILES["sxpd"])
    cols = np.loadtxt(FILES["sxpd"])
    assert np.allclose(xrd.data[["two_theta_deg", "intensity_counts", "sigma_counts"]].to_numpy(), cols)


def test_a_file_of_several_measurements_asks_for_a_part(real):
    path = real / "xas" / "soft_OK_edge_ausync" / "sxr129598.asc"
    with pytest.raises(socscope.MultipleMeasurements, match="part="):
        socscope.read(path)
    every = socscope.read_all(path)
    assert len(every) >= 2
    chosen = socscope.read(path, part=every[1].part)
    assert chosen.mode == every[1].mode


def test_an_unreadable_file_raises_the_reason_the_pipeline_would_quarantine_it_for(real):
    from foundation.contract import UnreadableFile

    with pytest.raises(UnreadableFile, match="truncated"):
        socscope.read(real / "afm" / "bruker_data_header.003")
    with pytest.raises(FileNotFoundError):
        socscope.read(real / "no-such-file.xye")


def test_import_socscope_stays_cheap():
    """``import socscope`` loads no data library: the CLI's start-up and notebooks pay only for what they use."""
    code = ("import sys, socscope\n"
            "print(sorted(m for m in ('pandas', 'duckdb', 'xarray', 'pyarrow', 'foundation.registry') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stderr


def test_a_folder_taken_whole_reads_as_the_intake_stores_it(tmp_path):
    """A Toyo TOSCAT channel folder (spec-built, as in tests/echem) is packed into intake's deterministic
    ZIP: the same reader, the same rows and the sha256 the raw store would give it."""
    import hashlib

    import fsspec

    from tasks.intake import bundle_bytes
    from tests.echem.test_toyo_and_generic import _folder

    folder = _folder(tmp_path)
    m = socscope.read(folder)
    assert m.reader.name == "toyo-toscat" and len(m.data) == 56  # 6 + 30 + 20 records in the step files
    assert m.sha256 == hashlib.sha256(bundle_bytes(fsspec.filesystem("file"), str(folder))).hexdigest()
