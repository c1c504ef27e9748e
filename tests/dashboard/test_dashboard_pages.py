"""The dashboard's navigation comes from the registry: a technique's pages show up between the
campaign-wide pages and are drawn through the kit (fast: Streamlit's AppTest, no browser)."""
from __future__ import annotations

import sys

import duckdb
import pytest

from foundation import registry as reg

pytest.importorskip("streamlit")

TOY = "pagetoy"


@pytest.fixture()
def with_page_toy(monkeypatch):
    monkeypatch.setitem(reg.TECHNIQUE_MODULES, TOY, "tests.support.page_toy:TECHNIQUE")


@pytest.fixture()
def warehouse_config(tmp_path, monkeypatch):
    """A campaign whose warehouse is one empty catalog snapshot."""
    from socscope.demo import demo_config_text

    config = tmp_path / "campaign.yaml"
    config.write_text(demo_config_text("small"), encoding="utf-8")
    (tmp_path / "warehouse" / "catalogs").mkdir(parents=True)
    duckdb.connect(str(tmp_path / "warehouse" / "catalogs" / "00000001.duckdb")).close()
    monkeypatch.setenv("PAGE_TOY_CONFIG", str(config))
    return config


def test_navigation_puts_technique_pages_between_the_campaign_wide_ones(with_page_toy):
    from socscope.dashboard import views

    slugs = [slug for slug, _, _ in views.all_pages()]
    # campaign-wide first, the techniques' pages by title (AFM maps, Diffraction, ESM × C-AFM pixels, GITT,
    # NEXAFS, Toy page), cross-technique and operations last
    assert slugs == ["campaign", "soc_profiles", "sample", "afm_maps", "diffraction", "afm_pixels", "gitt", "nexafs",
                     "toy_page", "correlations", "findings", "operations", "lineage"]


def test_two_pages_with_one_slug_are_refused_naming_both_owners(monkeypatch):
    from socscope.dashboard import views

    monkeypatch.setitem(reg.TECHNIQUE_MODULES, TOY, "tests.support.page_toy:CLASHING")
    with pytest.raises(RuntimeError, match=r"findings.*the dashboard.*technique 'pagetoy'"):
        views.all_pages()


def test_the_kit_is_a_page_kit():
    from foundation.contract import PageKit
    from socscope.dashboard.kit import KIT

    assert isinstance(KIT, PageKit)


def _app_on_the_toy_page():
    """The dashboard's frame (app.py) with the toy technique's page chosen in the navigation."""
    import os

    import streamlit as st

    from socscope.dashboard import kit, views

    context = kit.context(os.environ["PAGE_TOY_CONFIG"])
    pages = views.streamlit_pages()
    nav = st.navigation(pages, position="sidebar")
    if nav.url_path != "toy_page":  # switch_page refuses a page that is not in the navigation
        st.switch_page(next(page for page in pages if page.url_path == "toy_page"))
    views.run_page(nav, context)


def test_a_registered_technique_page_renders_through_the_kit(with_page_toy, warehouse_config, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.support.page_toy import MARKER

    # AppTest leaves its temporary script as __main__ (see tests/hardening/test_exposure.py)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_app_on_the_toy_page).run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Toy page"]
    assert f"{MARKER}: answer 42 (bound)" in [m.value for m in at.markdown]  # the kit's q bound both values
    footer = [c.value for c in at.caption if c.value.startswith("page-ready")]
    assert footer and footer[0].startswith("page-ready · main plot: 1 points · digest ")  # the kit's main_plot
