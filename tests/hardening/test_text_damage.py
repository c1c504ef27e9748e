"""The registry's treatment of damage common to all text formats (spec-built files, tmp_path)."""
from __future__ import annotations

import numpy as np
import pytest

from foundation.contract import UnreadableFile, cut_reason, describe_bytes
from foundation.rawfile import _cut_last_line
from foundation.registry import read_measurements
from tests.conftest import DATA

XYE = DATA / "real/sxpd/format_snippets/example_mythen.xye"
NO_FINAL_LINE_END = ["real/echem/maccor/sample_data_maccor.csv", "real/echem/biologic/Sample_data_biologic_no_header.mpt",
                     "real/xas/LiNiO2_operando_NiK/220726cell4operandoxas_C06.mpt",
                     "real/echem/other/sample_data_basytec.txt", "real/echem/neware/neware_uio.csv",
                     "real/echem/arbin/sample_data_arbin.csv"]


def _read(path, technique="sxpd"):
    return read_measurements(path, "0" * 64, path.name, technique_name=technique)[1]


def test_empty_file_is_refused_as_empty(tmp_path):
    path = tmp_path / "x.xye"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFile, match="empty"):
        _read(path)


def test_utf16_text_reads_like_its_utf8_original(tmp_path):
    path = tmp_path / XYE.name
    path.write_bytes(XYE.read_text(encoding="utf-8").encode("utf-16"))
    (m,), (original,) = _read(path), _read(XYE)
    assert m.data.keys() == original.data.keys()
    for key in m.data:
        np.testing.assert_array_equal(m.data[key], original.data[key])
    assert "UTF-16" in m.meta["transcoded"]


def test_a_row_cut_in_the_middle_is_dropped_and_flagged(tmp_path):
    raw = XYE.read_bytes()
    rows = raw.splitlines(keepends=True)
    path = tmp_path / XYE.name
    path.write_bytes(b"".join(rows[:40]) + rows[40][:9])  # the 41st row cut inside its second number
    (m,) = _read(path)
    (whole,) = _read(XYE)
    for key in m.data:
        np.testing.assert_array_equal(m.data[key], whole.data[key][:40])
    assert "ends inside a line" in m.meta["truncated"]


@pytest.mark.parametrize("rel", NO_FINAL_LINE_END)
def test_whole_last_rows_without_a_line_end_are_kept(rel):
    with open(DATA / rel, "rb") as fh:
        raw = fh.read()
    assert not raw.endswith(b"\n")
    assert _cut_last_line(raw[-65536:]) == 0


def test_undecodable_utf16_is_refused_as_damaged(tmp_path):
    path = tmp_path / "x.xye"
    path.write_bytes(b"\xff\xfe" + b"\x00\xd8" + b"1\x00")  # a lone high surrogate
    with pytest.raises(UnreadableFile, match="UTF-16"):
        _read(path)


def test_describe_bytes_never_quotes_more_than_a_few_bytes():
    text = b"Today's Date 03/07/2018 and a long line of header text\n"
    assert text[:20].decode() not in describe_bytes(text)
    assert "binary" in describe_bytes(b"\x00\x01" * 40)
    assert "UTF-16" in describe_bytes("abc".encode("utf-16"))
    assert "longer than" in describe_bytes(b"x" * 65536)
    assert "not UTF-8" in describe_bytes(b"caf\xe9 au lait\n" * 3)


def test_cut_reason_is_one_printable_line_of_bounded_length():
    out = cut_reason("row:\t1\t2\n\x00" + "x" * 1000, 100)
    assert len(out) <= 100 and out.isprintable() and "\n" not in out
