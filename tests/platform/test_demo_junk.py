"""The demo's shares carry macOS junk, as a Mac-using lab leaves it: ignored by the shares' default list,
listed as ignored, never received nor quarantined (on the session's processed small demo)."""
from __future__ import annotations

from pathlib import Path

import pytest

from socscope.status import status_table
from tasks import pipeline


@pytest.mark.slow
def test_the_demo_macos_junk_is_ignored_not_received(demo_campaign):
    wh = pipeline.open_warehouse(demo_campaign)
    afm = Path(demo_campaign.resolve("share/afm"))
    apple_double = {p.relative_to(afm).as_posix() for p in afm.rglob("._*") if p.suffix in (".spm", ".ibw")}
    assert apple_double, "the demo writes AppleDouble files beside the AFM maps"
    ignored = wh.query("select how, technique, original_name from ignored")
    assert set(ignored.how) == {"pattern"}
    assert apple_double <= set(ignored[ignored.technique == "afm"].original_name)
    assert ".DS_Store" in set(ignored.original_name)  # the cyclers' share takes every name: the default list acts
    assert not wh.query("select count(*) as n from raw_files where original_name like '._%' "
                        "or original_name = '.DS_Store'").n[0]
    assert not len(wh.query("select * from quarantine where original_name like '%._%' or original_name like '%DS_Store'"))
    table = status_table(demo_campaign, wh.query)
    row = table[(table.technique == "afm") & (table.sample_id == "C-PRI")].iloc[0]
    assert row.ignored > 0 and row.received == row.processed
