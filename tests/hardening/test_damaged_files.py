"""Every real file of tests/data, damaged in each way a share sees, is read identically, read with its
truncation flagged, or refused with a reason that names the defect — never a crash, a hang, a
generic message, file bytes in the reason, or unbounded memory (tests/hardening/corpus.py).

The quick loop runs the cheap classes (zero-length, 1 % truncation, random bytes, wrong suffix) on
every file; the whole corpus (all classes, every file) is marked slow.
"""
from __future__ import annotations

import pytest

from tests.hardening import corpus

CASES = corpus.cases()
#: variants no reader can tell from a valid file, each with why; the full corpus must fail on nothing else
UNDETECTABLE = {
    ("flip", "real/afm/PTO_110_Virgin0001.gwy"):
        "the seeded position (byte 197) lies in the first value of the height data, which starts at byte 160: "
        "a Gwyddion file has no checksum, so a changed data value is a valid file",
}


def _failures(verdicts: list[corpus.Verdict]) -> list[str]:
    return [f"{v.kind} of {v.case.file}: {v.detail}" for v in verdicts if v.outcome == "other"]


def test_every_data_file_is_in_the_corpus():
    assert len(CASES) >= 80, "the corpus is built from the census tables of tests/expectations"
    assert all(c.path.is_file() for c in CASES)


def test_quick_variants_of_every_file(tmp_path):
    verdicts = corpus.run_corpus(CASES, corpus.QUICK_KINDS, tmp_path)
    assert len(verdicts) == len(CASES) * len(corpus.QUICK_KINDS)
    assert not _failures(verdicts), "\n".join(_failures(verdicts))


@pytest.mark.slow
def test_full_corpus(tmp_path):
    verdicts = corpus.run_corpus(CASES, corpus.ALL_KINDS, tmp_path)
    print("\n" + corpus.figures(verdicts))
    failures = [v for v in verdicts if v.outcome == "other" and (v.kind, v.case.file) not in UNDETECTABLE]
    assert not failures, "\n".join(_failures(failures))
    # an exception that no longer happens must leave the list
    still = {(v.kind, v.case.file) for v in verdicts if v.outcome == "other"}
    assert set(UNDETECTABLE) <= still, f"no longer undetectable: {set(UNDETECTABLE) - still}"
    # the wrong suffix changes nothing: content decides
    suffix = [v for v in verdicts if v.kind == "suffix"]
    assert all(v.outcome in ("identical", "refused") for v in suffix)


def test_the_sandbox_kills_a_hang_and_a_memory_hog():
    results = corpus.run_limited([("hang", corpus.spin, ()), ("hog", corpus.allocate, ())], time_limit=3)
    assert results["hang"]["status"] == "hang"
    assert results["hog"]["status"] == "crash" and results["hog"]["type"] == "MemoryError"


def test_judge_catches_file_bytes_and_crash_words_in_a_reason():
    content = b"10.000 11.632 2.650 3.500\n" * 10
    assert corpus.reason_problems(f"bad row {content[:22].decode()!r}", content, "x.xye")
    assert corpus.reason_problems("unexpected IndexError: index -1 is out of bounds", content, "x.xye")
    assert corpus.reason_problems("a\x00b", content, "x.xye")
    assert not corpus.reason_problems("x.xye is truncated: the last row is incomplete", content, "x.xye")

