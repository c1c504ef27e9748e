"""SXPD readers on the real I11 files, and damaged copies built in tmp_path."""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from foundation.contract import MissingInformation, UnreadableFile
from foundation.registry import read_head, technique
from tasks.testing import assert_reader_conforms, assert_rejects

# the registered instances: the conformance kit checks the registry picks exactly these
_READERS = {r.name: r for r in technique("sxpd").readers}


def XyeReader():
    return _READERS["i11-xye"]


def NexusReader():
    return _READERS["i11-nexus"]


def RefinementCsvReader():
    return _READERS["refinement-csv"]

SI = "sxpd/i11_si_standard_1410696"
DAWN = "sxpd/i11-1_dawn_processed/i11-1-116513_processed_250929_135434.nxs"
XYE_FILES = [f"{SI}/1410696_summed_mythen3.xye", "sxpd/format_snippets/example_mac.xye",
             "sxpd/format_snippets/example_mythen.xye", "sxpd/format_snippets/example_mythen.dat"]


@pytest.mark.parametrize("rel", XYE_FILES)
def test_xye_reader_conforms_and_matches_plain_parse(real: Path, rel: str) -> None:
    path = real / rel
    (m,) = assert_reader_conforms(XyeReader(), path)
    # independent parse: split every line on whitespace
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    expected = np.array(rows, dtype=float)
    assert m.meta["n_points"] == len(rows)
    np.testing.assert_array_equal(m.data["two_theta_deg"], expected[:, 0])
    np.testing.assert_array_equal(m.data["intensity_counts"], expected[:, 1])
    np.testing.assert_array_equal(m.data["sigma_counts"], expected[:, 2])
    assert m.units["two_theta_deg"] == "deg"


def test_nexus_gda_si_standard(real: Path) -> None:
    path = real / SI / "1410696.nxs"
    (m,) = assert_reader_conforms(NexusReader(), path)
    with h5py.File(path) as h5:
        expected_tth = h5["entry/xye/tth"][()]
        scan = int(h5["entry/diamond_scan/entry_identifier"][()])
        start = h5["entry/diamond_scan/start_time"][()].decode()
        counts = h5["entry/xye/counts"][()]
    np.testing.assert_array_equal(m.data["two_theta_deg"], expected_tth)
    np.testing.assert_array_equal(m.data["intensity_counts"], counts)
    assert m.meta["scan_number"] == scan == 1410696
    assert m.meta["start_time"] == start
    assert m.meta["beamline"] == "i11"
    assert "wavelength_angstrom" not in m.meta  # I11 stores none: it must come from a calibration


def test_nexus_dawn_processed(real: Path) -> None:
    (m,) = assert_reader_conforms(NexusReader(), real / DAWN)
    with h5py.File(real / DAWN) as h5:
        data = h5["processed/result/data"][()]
    assert m.meta["format"] == "nexus-dawn" and m.meta["processing_program"] == "DAWN"
    assert m.meta["n_points"] == data.shape[1] == 5000
    np.testing.assert_array_equal(m.data["intensity_counts"], data[0])
    assert m.meta["sigma_estimated"] is True
    assert "Azimuthal Integration" in m.meta["processing_steps"]


def test_raw_mythen3_detector_file_is_refused_with_reason(real: Path) -> None:
    path = real / SI / "mythen3_1410696.hdf5"
    assert NexusReader().sniff(read_head(path), path.name)
    reason = assert_rejects(NexusReader(), path, "raw Mythen3")
    assert "2θ" in reason
    with pytest.raises(MissingInformation):
        NexusReader().read(path, {})


def test_sniffing_is_by_content(real: Path) -> None:
    xye, nxs = real / XYE_FILES[0], real / SI / "1410696.nxs"
    assert not XyeReader().sniff(read_head(nxs), "x.xye")
    assert not NexusReader().sniff(read_head(xye), "x.nxs")
    assert not RefinementCsvReader().sniff(read_head(xye), "x.csv")


# ------------------------------------------------------------------------------ damaged files
def test_truncated_xye_is_quarantined(real: Path, tmp_path: Path) -> None:
    raw = (real / XYE_FILES[0]).read_bytes()
    cut = raw[: len(raw) // 2]
    cut = cut[: cut.rfind(b" ")]  # the last row loses its error column
    bad = tmp_path / "cut.xye"
    bad.write_bytes(cut)
    assert_rejects(XyeReader(), bad, "truncated")


def test_xye_with_garbage_row_and_disorder(real: Path, tmp_path: Path) -> None:
    lines = (real / XYE_FILES[0]).read_text().splitlines()
    garbage = tmp_path / "garbage.xye"
    garbage.write_text("\n".join(lines[:100] + ["12.5 ### 3.0"] + lines[100:200]) + "\n")
    assert_rejects(XyeReader(), garbage, "non-numeric")
    disorder = tmp_path / "disorder.xye"
    disorder.write_text("\n".join(lines[:100] + lines[:100]) + "\n")
    assert_rejects(XyeReader(), disorder, "increasing")
    empty = tmp_path / "empty.xye"
    empty.write_text("# scan_number: 1\n# sample: x\n")
    assert_rejects(XyeReader(), empty, "no data rows")


def test_xye_with_non_finite_angles(tmp_path: Path) -> None:
    rows = [f"{5 + i / 100:.3f} {100 + i:.1f} 10.0" for i in range(50)]
    for bad_row, where in (("nan 150.0 10.0", 20), ("inf 150.0 10.0", 50)):  # inside, and at the end
        path = tmp_path / f"bad_{where}.xye"
        path.write_text("\n".join(rows[:where] + [bad_row] + rows[where:] if where < 50 else rows + [bad_row]) + "\n")
        assert_rejects(XyeReader(), path, "not numbers")


def test_xye_header_comments_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "h.xye"
    x = np.arange(5.0, 6.0, 0.01)
    body = "\n".join(f"{a:.3f} {100 + a:.1f} 10.0" for a in x)
    path.write_text(f"# scan_number: 4242\n# start_time: 2026-05-04T09:00:00\n# note = sample O-1\n{body}\n")
    (m,) = assert_reader_conforms(XyeReader(), path)
    assert m.meta["scan_number"] == "4242" and m.meta["note"] == "sample O-1"
    assert m.meta["header"].startswith("# scan_number")
    assert m.meta["n_points"] == len(x)


def test_xye_header_longer_than_the_head_window(tmp_path: Path) -> None:
    from tasks.sxpd.xye_reader import HEAD_BYTES

    comments = [f"# note_{i}: {'x' * 60}" for i in range(HEAD_BYTES // 60 + 10)]
    assert len("\n".join(comments)) > HEAD_BYTES
    rows = ["  5.000 101.5 10.0"] + [f"{5 + i / 100:.3f} {100 + i:.1f} 10.0" for i in range(1, 50)]
    path = tmp_path / "long_header.xye"
    path.write_text("\n".join(comments + rows) + "\n")
    m = XyeReader().read(path, {})  # (sniffing sees only the first 64 kB: comments)
    assert m.meta[f"note_{len(comments) - 1}"] == "x" * 60
    assert m.meta["n_points"] == 50
    assert m.data["two_theta_deg"][0] == 5.0 and m.data["intensity_counts"][-1] == 149.0
    blank = tmp_path / "blank_body.xye"
    blank.write_text("\n".join(comments) + "\n" + " \n" * (HEAD_BYTES // 2))
    with pytest.raises(UnreadableFile, match="no data rows"):
        XyeReader().read(blank, {})
    # a short header and blank lines longer than the head, with and without data after them
    blank.write_text("# scan_number: 1\n" + " \n" * HEAD_BYTES)
    with pytest.raises(UnreadableFile, match="no data rows"):
        XyeReader().read(blank, {})
    late = tmp_path / "late_rows.xye"
    late.write_text("# scan_number: 1\n" + " \n" * HEAD_BYTES + "\n".join(rows) + "\n")
    m = XyeReader().read(late, {})
    assert m.meta["n_points"] == 50 and m.data["intensity_counts"][-1] == 149.0


def test_truncated_nexus_is_quarantined(real: Path, tmp_path: Path) -> None:
    raw = (real / SI / "1410696.nxs").read_bytes()
    bad = tmp_path / "cut.nxs"
    bad.write_bytes(raw[: len(raw) // 3])
    assert_rejects(NexusReader(), bad, "truncated")


def test_nexus_without_data_and_with_mismatched_axis(tmp_path: Path) -> None:
    empty = tmp_path / "empty.nxs"
    with h5py.File(empty, "w") as h5:
        h5.create_group("entry").create_dataset("experiment_identifier", data=b"cm1-1")
    assert_rejects(NexusReader(), empty, "no powder pattern")
    odd = tmp_path / "odd.nxs"
    with h5py.File(odd, "w") as h5:
        g = h5.create_group("processed/result")
        g.create_dataset("2-theta", data=np.linspace(1, 10, 100)).attrs["units"] = "deg"
        g.create_dataset("data", data=np.ones((1, 90)))
    assert_rejects(NexusReader(), odd, "does not match")


# ------------------------------------------------------------------------------ refinement tables
def _refinement_csv(path: Path, rows: str) -> Path:
    path.write_text("# program: GSAS-II\nPattern;a (A);a_esd;c;c_esd;Rwp;GOF\n" + rows, encoding="utf-8")
    return path


def test_refinement_csv_reader(tmp_path: Path) -> None:
    path = _refinement_csv(tmp_path / "refine.csv", "i11-1500001.xye;2.86910;0.00010;14.2104;0.0005;7.85;1.43\n"
                                                    "i11-1500011.xye;2.84064;0.00012;14.3862;0.0006;7.42;1.37\n")
    (m,) = assert_reader_conforms(RefinementCsvReader(), path)
    df = m.data
    assert list(df["scan_number"]) == [1500001, 1500011]
    assert df["a_angstrom"].tolist() == [2.86910, 2.84064]
    assert df["program"].tolist() == ["GSAS-II", "GSAS-II"]
    np.testing.assert_allclose(df["volume_a3"], np.sqrt(3) / 2 * df["a_angstrom"] ** 2 * df["c_angstrom"])


def test_refinement_csv_rejections(tmp_path: Path) -> None:
    no_c = tmp_path / "no_c.csv"
    no_c.write_text("pattern,a,rwp\nx,2.87,5\n")
    assert_rejects(RefinementCsvReader(), no_c, "no column")
    text = _refinement_csv(tmp_path / "text.csv", "p1;2.87;n/a;14.2;0.0005;7;1\n")
    assert_rejects(RefinementCsvReader(), text, "not a number")
    nm = _refinement_csv(tmp_path / "nm.csv", "p1;0.287;0.0001;1.42;0.0005;7;1\n")
    assert_rejects(RefinementCsvReader(), nm, "outside 1–100 Å")


def test_readers_never_need_the_suffix(real: Path, tmp_path: Path) -> None:
    copy = tmp_path / "no_suffix"
    shutil.copy(real / SI / "1410696.nxs", copy)
    assert NexusReader().sniff(read_head(copy), copy.name)
    with pytest.raises(UnreadableFile):
        XyeReader().read(copy, {})
