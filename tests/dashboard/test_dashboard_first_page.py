"""The dashboard's first page does not wait for what the server can do before it is up (issue 22: the
first page within 2 s of the server being up, measured by bench/dashboard.py). Mechanisms, not timings:
the server listens only after its warm-up has imported the first page's libraries and opened the
campaign and the catalog; a page run after the warm-up loads no campaign file and opens no DuckDB
connection; table downloads are made when clicked, not at every page run."""
from __future__ import annotations

import sys

import pytest

from tests.support.toy_world import toy_one_quarantined, use_toy_registry

pytest.importorskip("streamlit")


@pytest.fixture()
def toy_warehouse(tmp_path, monkeypatch):
    from socscope.dashboard import data
    from tasks import pipeline

    use_toy_registry(monkeypatch)
    cfg = toy_one_quarantined(tmp_path)
    pipeline.run_local(cfg)
    monkeypatch.setattr(data, "_OPEN", {})  # this process's warm-up state, as a fresh server has it
    return cfg


def _campaign_page():
    import os

    import streamlit as st

    from socscope.dashboard import kit, views

    context = kit.context(os.environ["CAMPAIGN_PAGE_CONFIG"])
    nav = st.navigation(views.streamlit_pages(), position="sidebar")
    views.run_page(nav, context)


def test_the_server_listens_only_after_the_warm_up_opened_campaign_and_catalog(toy_warehouse, monkeypatch):
    from streamlit.web import cli

    from socscope.dashboard import APP, data, serve

    seen = {}

    def listen(prog_name):  # Streamlit's command line: from here on the server answers its health check
        seen["modules"] = {name for name in serve.WARM if name in sys.modules}
        seen["open"] = dict(data._OPEN)

    monkeypatch.setattr(cli, "main", listen)
    monkeypatch.setattr(sys, "argv", ["serve.py", "run", str(APP), "--server.port", "0", "--", "--config",
                                      str(toy_warehouse)])
    serve.main()
    assert seen["modules"] == set(serve.WARM)
    kinds = {key[0]: value for key, value in seen["open"].items()}
    assert set(kinds) == {"campaign", "catalog"}
    assert kinds["campaign"].name == "toy-campaign"
    assert kinds["catalog"]._cons, "the catalog's connection on the newest snapshot is not open yet"


def test_a_broken_warehouse_does_not_stop_the_server_it_is_the_page_that_says_so(tmp_path):
    from socscope.dashboard import serve

    report: dict = {}
    serve.warm(str(tmp_path / "missing.yaml"), report)
    assert "missing.yaml" in report["error"] and report["seconds"] >= 0


def test_a_page_run_after_the_warm_up_loads_no_campaign_and_opens_no_connection(toy_warehouse, monkeypatch):
    import duckdb
    from streamlit.testing.v1 import AppTest

    import foundation.config
    from socscope.dashboard import serve

    serve.warm(str(toy_warehouse), report := {})
    assert "error" not in report, report
    calls = []
    real_connect, real_load = duckdb.connect, foundation.config.load_campaign
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: calls.append("duckdb.connect") or real_connect(*a, **k))
    monkeypatch.setattr(foundation.config, "load_campaign", lambda *a, **k: calls.append("load_campaign")
                        or real_load(*a, **k))
    monkeypatch.setenv("CAMPAIGN_PAGE_CONFIG", str(toy_warehouse))
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])  # AppTest leaves its script as __main__
    at = AppTest.from_function(_campaign_page).run(timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    assert any("page-ready" in c.value for c in at.caption)
    assert calls == []


def _a_table_page():
    import pandas as pd

    from socscope.dashboard import kit

    kit.table(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "two_rows")


def test_table_downloads_are_made_when_clicked_not_at_every_page_run(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from socscope.dashboard import kit

    made = []
    real = kit._download_bytes
    monkeypatch.setattr(kit, "_download_bytes", lambda df, fmt: made.append(fmt) or real(df, fmt))
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_a_table_page).run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe) == 1
    assert made == []


def test_the_first_element_of_the_server_reads_no_call_stack(toy_warehouse, monkeypatch):
    """Streamlit's "use streamlit run" hint reads the whole call stack with its source lines at the first
    element of a process (0.1–0.3 s of the first visitor's page): the server skips it, as it is
    `streamlit run`. Fails if a Streamlit upgrade moves the check."""
    import inspect

    from streamlit import delta_generator
    from streamlit.testing.v1 import AppTest
    from streamlit.web import cli

    from socscope.dashboard import APP, serve

    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    monkeypatch.setattr(cli, "main", lambda prog_name: None)
    monkeypatch.setattr(sys, "argv", ["serve.py", "run", str(APP), "--", "--config", str(toy_warehouse)])
    serve.main()

    def no_stack(*args, **kwargs):
        raise AssertionError("the call stack was read")

    monkeypatch.setattr(inspect, "stack", no_stack)
    monkeypatch.setenv("CAMPAIGN_PAGE_CONFIG", str(toy_warehouse))
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_campaign_page).run(timeout=90)
    assert not at.exception, [e.value for e in at.exception]


def test_the_campaign_page_draws_its_files_table_on_request_not_at_first(toy_warehouse, monkeypatch):
    """A data grid loads ~1.4 MB of the browser's scripts: the first page shows the heatmap and the
    table's downloads, the grid only once asked for."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CAMPAIGN_PAGE_CONFIG", str(toy_warehouse))
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])  # AppTest leaves its script as __main__
    at = AppTest.from_function(_campaign_page).run(timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe) == 0
    assert {b.label for b in at.get("download_button")} >= {"CSV", "PARQUET"}
    at.toggle(key="campaign_table").set_value(True).run(timeout=90)
    assert len(at.dataframe) == 1
    assert {"sample_id", "technique", "verdict"} <= set(at.dataframe[0].value.columns)
