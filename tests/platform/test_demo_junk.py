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
    # and people see it: one files_ignored warning per technique × sample that holds junk
    w = wh.query("select technique, sample_id, message from warnings where code = 'files_ignored'")
    per_group = ignored.merge(wh.query("select original_name, sample_id from ignored"), on="original_name")
    assert len(w) == len(per_group.groupby(["technique", "sample_id"], dropna=False))
    pri = w[(w.technique == "afm") & (w.sample_id == "C-PRI")].message.iloc[0]
    n_pri = sum(1 for p in apple_double if p.startswith("C-PRI/"))
    assert pri.startswith(f"{n_pri} file") and "._" in pri and "socscope status --ignored" in pri
