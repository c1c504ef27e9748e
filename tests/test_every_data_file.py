"""Every file in tests/data is either read by the reader it should be, or refused with the defect named.

The expected outcome of each file is a person's judgement recorded in ``tests/expectations/*.tsv``
(one table per technique area, columns ``file``, ``technique``, ``reader``, ``outcome``):

- ``outcome`` = ``read``: content detection picks ``reader`` among the technique's readers, the file
  reads through the registry and passes the conformance kit;
- ``outcome`` = ``refused: <words>``: reading through the registry raises ``UnreadableFile`` whose
  reason contains ``<words>`` (case-insensitive). Any other exception is a crash and fails.

Value-for-value agreement with independent readers lives in each technique's tests; this test is
the census: no file of the repository is left without a stated outcome.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from foundation.contract import UnreadableFile
from foundation.registry import detect, read_measurements
from tasks.testing import assert_reader_conforms
from tests.conftest import DATA

EXPECTATIONS = Path(__file__).parent / "expectations"
MANIFESTS = {"MANIFEST.md", "SHA256SUMS", "MANIFEST.tsv"}


def _rows() -> list[dict[str, str]]:
    rows = []
    for table in sorted(EXPECTATIONS.glob("*.tsv")):
        with table.open(newline="", encoding="utf-8") as handle:
            rows += [dict(row, table=table.name) for row in csv.DictReader(handle, delimiter="\t")]
    return rows


ROWS = _rows()


def test_every_data_file_has_exactly_one_expected_outcome():
    on_disk = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name not in MANIFESTS}
    listed = [row["file"] for row in ROWS]
    twice = sorted({f for f in listed if listed.count(f) > 1})
    assert not twice, f"files with more than one expected outcome: {twice}"
    assert not sorted(set(listed) - on_disk), f"expectations name files not in tests/data: {sorted(set(listed) - on_disk)}"
    assert not sorted(on_disk - set(listed)), (
        f"files in tests/data without an expected outcome (add a row to tests/expectations/): {sorted(on_disk - set(listed))}")


@pytest.mark.parametrize("row", [r for r in ROWS if r["outcome"] == "read"], ids=lambda r: r["file"])
def test_file_is_detected_and_read(row):
    path = DATA / row["file"]
    chosen = detect(path, path.name, row["technique"])
    assert chosen.name == row["reader"], f"content detection chose {chosen.name}, expected {row['reader']}"
    assert assert_reader_conforms(chosen, path, technique=row["technique"])


@pytest.mark.parametrize("row", [r for r in ROWS if r["outcome"].startswith("refused:")], ids=lambda r: r["file"])
def test_file_is_refused_with_its_defect_named(row):
    path = DATA / row["file"]
    expected = row["outcome"].removeprefix("refused:").strip()
    with pytest.raises(UnreadableFile) as refusal:
        read_measurements(path, "0" * 64, path.name, technique_name=row["technique"], override=row["reader"] or None)
    assert expected.lower() in str(refusal.value).lower(), f"reason {str(refusal.value)!r} does not say {expected!r}"


def test_outcomes_are_read_or_refused():
    bad = [(r["table"], r["file"], r["outcome"]) for r in ROWS
           if r["outcome"] != "read" and not r["outcome"].startswith("refused:")]
    assert not bad, f"outcome must be 'read' or 'refused: <words of the reason>': {bad}"
