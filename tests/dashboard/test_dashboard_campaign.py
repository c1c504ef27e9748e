"""The dashboard's campaign page tells the truth (AppTest, no browser): processed, quarantined and
ignored files per sample × technique, and a sample whose only file is quarantined is not complete."""
from __future__ import annotations

import sys

import pytest

from tests.support.toy_world import toy_one_quarantined, use_toy_registry

pytest.importorskip("streamlit")


def _campaign_page():
    import os

    import streamlit as st

    from socscope.dashboard import kit, views

    context = kit.context(os.environ["CAMPAIGN_PAGE_CONFIG"])
    pages = views.streamlit_pages()
    nav = st.navigation(pages, position="sidebar")  # the campaign page is the default one
    assert nav.title == "Campaign", nav.title
    views.run_page(nav, context)


def _operations_page():
    import os

    from socscope.dashboard import kit
    from socscope.dashboard.operations_view import page_operations

    kit.context(os.environ["CAMPAIGN_PAGE_CONFIG"])
    page_operations()


def test_the_campaign_page_shows_processed_quarantined_ignored_and_an_honest_verdict(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tasks import pipeline

    use_toy_registry(monkeypatch)
    cfg = toy_one_quarantined(tmp_path)
    (tmp_path / "share/S1/._a.csv").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    pipeline.run_local(cfg)

    monkeypatch.setenv("CAMPAIGN_PAGE_CONFIG", str(cfg))
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])  # AppTest leaves its script as __main__
    at = AppTest.from_function(_campaign_page).run(timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    at.toggle(key="campaign_table").set_value(True).run(timeout=90)  # the table is drawn on request
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns).set_index("sample_id")
    assert table.loc["S1", ["received", "processed", "quarantined", "ignored", "verdict"]].tolist() == [
        1, 1, 0, 1, "complete"]
    assert table.loc["S2", ["received", "processed", "quarantined", "verdict"]].tolist() == [1, 0, 1, "quarantined"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["sample × technique not complete"] == "1"
    assert any("1 quarantined file(s)" in w.value for w in at.warning), [w.value for w in at.warning]
    operations = AppTest.from_function(_operations_page).run(timeout=90)
    assert not operations.exception, [e.value for e in operations.exception]
    assert any("Ignored files (1)" in e.label for e in operations.expander)
    quarantine = next(t.value for t in operations.table if "S2" in set(t.value.get("sample_id", [])))
    assert {"reason", "reader", "params_id", "raw_sha256"} <= set(quarantine.columns)  # all the findings page had
