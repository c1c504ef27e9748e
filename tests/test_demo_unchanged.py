"""The demo warehouse is what it was before the house was rebuilt: rows per table, findings, quality.

The expectation file was written by the code before the issue-17 restructuring (commit 973935a): this is a
refactor guard, not a correctness test (tests/marts and each technique's tests hold those against the science).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks import pipeline

EXPECTED = Path(__file__).parent / "demo_small_census.tsv"  # not in expectations/: that folder is the file census


def census(campaign) -> list[str]:
    wh = pipeline.open_warehouse(campaign)
    lines = [f"rows\t{t}\t{sum(e.rows for e in es)}" for t, es in sorted(wh.manifest().tables.items())]
    findings = wh.query("select claim, check_name, verdict from findings order by claim, check_name")
    lines += [f"finding\t{r.claim}:{r.check_name}\t{r.verdict}" for r in findings.itertuples()]
    quality = wh.query("select check_name, count(*) n, sum(passed::int) p from quality group by 1 order by 1")
    lines += [f"quality\t{r.check_name}\t{r.n}/{float(r.p)}" for r in quality.itertuples()]
    return lines


@pytest.mark.slow
def test_demo_rows_findings_and_quality_are_unchanged(demo_campaign):
    expected = [line for line in EXPECTED.read_text().splitlines() if line and not line.startswith("#")]
    got = census(demo_campaign)
    assert got == expected, "\n".join(f"expected {e!r}, got {g!r}" for e, g in zip(expected, got) if e != g) \
        or f"expected {len(expected)} lines, got {len(got)}"
