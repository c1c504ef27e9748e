"""The pages people read results from, in a real browser (headless Chromium via Playwright) on the small
demo: what each page shows is compared with the warehouse (plain SQL on its catalog), never with the
page's own code. Charts are read through the ARIA labels Vega writes on every axis and mark (SVG), tables
through their CSV download. A screenshot per page goes to test-output/dashboard/.

The fixtures (demo copy, Streamlit server, browser) are those of test_dashboard_browser.py.
"""
# ruff: noqa: F811 - the fixtures imported from test_dashboard_browser are test parameters by design
from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from tests.dashboard.test_dashboard_browser import OUT, browser, demo, server, session  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wh(demo):
    """Plain SQL on the demo warehouse's newest catalog snapshot."""
    from socscope.dashboard import data as D

    _, campaign = demo
    cat = D.Catalog(campaign.resolve(campaign.storage.warehouse))
    yield cat.query
    cat.close()


def open_page(session, title: str, slug: str) -> None:
    session.open_root()
    session.goto(title)
    session.assert_clean(slug)


def aria(session, chart_index: int | None = None) -> list[str]:
    """The ARIA labels of the charts of the page (all, or the chart_index-th)."""
    charts = session.page.get_by_test_id("stVegaLiteChart")
    targets = [charts.nth(chart_index)] if chart_index is not None else charts.all()
    return [label for c in targets
            for label in c.evaluate("e => [...e.querySelectorAll('[aria-label]')].map(x => x.getAttribute('aria-label'))")]


def fields(label: str) -> dict[str, str]:
    """'a: 1; b: x' -> {'a': '1', 'b': 'x'} (a Vega mark's ARIA label)."""
    return dict(part.split(": ", 1) for part in label.split("; ") if ": " in part)


def chosen(session, label: str) -> str:
    """The option a selectbox shows."""
    return session.page.get_by_test_id("stSelectbox").filter(has_text=label).locator("input").input_value()


def num(text: str) -> float:
    return float(text.replace("−", "-"))  # Vega writes a typographic minus


def download_csv(session, nth: int = 0) -> pd.DataFrame:
    button = session.page.get_by_test_id("stDownloadButton").filter(has_text="CSV").nth(nth)
    button.scroll_into_view_if_needed()
    with session.page.expect_download() as info:
        button.click()
    return pd.read_csv(info.value.path())


def close(a: float, b: float, rel: float = 1e-3) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12 if abs(b) > 1e-9 else 1e-30)


def test_soc_profiles_panels_are_in_physical_units_with_bootstrap_error_bars(session, wh):
    open_page(session, "SOC profiles", "soc_profiles")
    labels = aria(session)
    units = wh("select distinct feature, unit from soc_profile")
    expected = {f"{r.feature} ({r.unit})" for r in units.itertuples()}
    y_titles = [re.search(r"Y-axis titled '(.*)' for", lab).group(1) for lab in labels if lab.startswith("Y-axis")]
    assert len(y_titles) >= 2 and set(y_titles) <= expected, (y_titles, sorted(expected)[:10])
    x_titles = {re.search(r"X-axis titled '(.*)' for", lab).group(1) for lab in labels if lab.startswith("X-axis")}
    assert x_titles == {"SOC (%)"}  # one SOC axis for every panel
    bars = [fields(lab) for lab in labels if "ci_low" in lab and "sample_id" not in lab]
    assert bars, "no error bar drawn"
    rows = wh("select mean, ci_low, ci_high from soc_profile where not interpolated and ci_low is not null")
    for bar in bars:  # every error bar is a bootstrap interval of the warehouse
        lo, hi = num(bar["ci_low"]), num(bar["ci_high"])
        assert any(close(lo, r.ci_low, 1e-6) and close(hi, r.ci_high, 1e-6) for r in rows.itertuples()), bar
    assert any(num(b["ci_high"]) > num(b["ci_low"]) for b in bars), "no interval wider than a point"
    session.page.screenshot(path=str(OUT / "read-soc_profiles.png"), full_page=True)


def test_gitt_page_draws_the_warehouse_d_of_each_pulse(session, wh):
    open_page(session, "GITT", "gitt")
    cell = chosen(session, "Cell")
    pulses = wh("select soc_pct, d_m2_s, d_sqrt_t_m2_s from current_gitt_pulses where cell_id = ?", [cell])
    expected = sorted(v for v in pd.concat([pulses.d_m2_s, pulses.d_sqrt_t_m2_s]).dropna() if v > 0)
    points = [f for f in map(fields, aria(session, 0)) if "estimate" in f and "d" in f]
    drawn = sorted(num(p["d"]) for p in points)  # the tooltip's value (4 significant digits)
    assert len(drawn) == len(expected) > 0, (len(drawn), len(expected))
    assert all(close(a, b) for a, b in zip(drawn, expected)), (drawn[:5], expected[:5])
    assert any(lab.startswith("Y-axis titled 'D (m²/s)' for a log scale") for lab in aria(session, 0))
    volt = aria(session, 1)  # the pulses: one rule per pulse of the file over the voltage curve
    assert any(lab.startswith("Y-axis titled 'voltage (V)'") for lab in volt)
    n_rules = sum(1 for lab in volt if "pulse_index" in lab)
    first_file = wh("select measurement_id from current_gitt_pulses where cell_id = ? order by measurement_id, "
                    "pulse_index limit 1", [cell]).measurement_id[0]
    assert n_rules == len(wh("select * from current_gitt_pulses where measurement_id = ?", [first_file]))
    table = download_csv(session)
    assert sorted(table.d_m2_s.dropna()) == pytest.approx(sorted(pulses.d_m2_s.dropna()), rel=1e-9)
    session.page.screenshot(path=str(OUT / "read-gitt.png"), full_page=True)


def test_pixel_page_shows_the_pair_correlation_and_every_masked_pixel(session, wh):
    open_page(session, "ESM × C-AFM pixels", "afm_pixels")
    label = chosen(session, "Map pair")
    sample, location = [part.strip() for part in label.split("·")[:2]]
    pair = wh("""select r.pair_id from current_afm_registrations r join current_afm_maps m
                 on m.measurement_id = r.esm_measurement_id where m.sample_id = ? and r.location_tag = ?""",
              [sample, location]).pair_id
    assert len(pair) == 1, (sample, location)
    corr = wh("select n_pixels, pearson_r, spearman_rho from pixel_correlations where pair_id = ? and particle_id = 0",
              [pair[0]]).iloc[0]
    text = session.page.get_by_test_id("stMain").inner_text()
    assert f"Pearson r = {corr.pearson_r:.3f}" in text and f"Spearman ρ = {corr.spearman_rho:.3f}" in text, text
    assert f"n = {int(corr.n_pixels)} pixels" in text and "mask: whole overlap" in text
    masked = wh("""select count(*) as n from current_afm_pairs where pair_id = ? and esm_amp_pm_per_v is not null
                   and current_pa is not null""", [pair[0]]).n[0]
    cells = [fields(lab) for lab in aria(session, 0) if "pixels: " in lab]
    assert sum(int(c["pixels"]) for c in cells) == masked == corr.n_pixels
    session.page.screenshot(path=str(OUT / "read-afm_pixels.png"), full_page=True)


def test_sample_page_shows_each_technique_of_the_sample_with_warehouse_values(session, wh):
    open_page(session, "Sample", "sample")
    sample = chosen(session, "Sample")
    s = wh("select soc_nominal_pct, soc_measured_pct from samples where sample_id = ?", [sample]).iloc[0]
    metrics = session.page.get_by_test_id("stMetric").all_inner_texts()
    assert any(m.startswith("SOC measured (%)") and m.endswith(f"{s.soc_measured_pct:.1f}") for m in metrics), metrics
    techs = wh("select distinct technique from soc_profile where sample_id = ? and not interpolated", [sample])
    headers = session.page.get_by_test_id("stHeading").all_inner_texts()
    assert set(techs.technique) <= {h.strip() for h in headers}, (list(techs.technique), headers)
    first = download_csv(session)  # the features of the first technique column
    rows = wh("""select feature, mode, mean, ci_low, ci_high, unit from soc_profile
                 where sample_id = ? and not interpolated""", [sample])
    merged = first.merge(rows, on=["feature", "mode", "unit"], suffixes=("", "_wh"))
    assert len(merged) == len(first) > 0
    assert merged["mean"].to_numpy() == pytest.approx(merged["mean_wh"].to_numpy(), rel=1e-9)
    session.page.screenshot(path=str(OUT / "read-sample.png"), full_page=True)


def grid_cells(grid) -> list[str]:
    """The cells of a st.dataframe (a canvas grid; its accessible table holds the values)."""
    grid.scroll_into_view_if_needed()
    grid.locator("[role=gridcell]").first.wait_for(state="attached")
    return grid.evaluate("e => [...e.querySelectorAll('[role=gridcell]')].map(c => c.innerText)")


def test_table_rows_link_to_a_lineage_page_naming_raw_file_reader_parameters_and_flow_run(session, wh):
    """The two maps of a pixel pair link to their lineage; following a link shows the map's raw file,
    reader@version, parameter set and flow run as the warehouse has them."""
    session.open_root()
    session.goto("ESM × C-AFM pixels")
    links = [c for c in grid_cells(session.page.get_by_test_id("stDataFrame").nth(1)) if c.startswith("lineage?")]
    assert len(links) == 2, links
    key = links[0].rsplit("key=", 1)[1]
    m = wh("""select m.raw_sha256, m.reader, m.params_id, m.flow_run_id, r.original_name
              from current_afm_maps m join raw_files r using (raw_sha256) where m.measurement_id = ?""", [key]).iloc[0]
    session.page.goto(f"{session.url}/{links[0]}")
    session.wait_loaded("")
    session.errors[:] = [e for e in session.errors if "/_stcore/" not in e]  # Streamlit's base-path probe
    session.assert_clean("lineage")
    text = session.page.get_by_test_id("stMain").inner_text()
    for value in (m.original_name, m.reader, m.params_id, m.flow_run_id, m.raw_sha256):
        assert str(value) in text, (value, text[:2000])
    assert "parameter set" in text
    session.page.screenshot(path=str(OUT / "read-lineage.png"), full_page=True)
