"""The pages people read results from, in a real browser (headless Chromium via Playwright) on the small
demo: what each page shows is compared with the warehouse (plain SQL on its catalog), never with the
page's own code. Charts are read through the ARIA labels Vega writes on every axis and mark (SVG), tables
through their CSV download. A screenshot per page goes to test-output/dashboard/.

The fixtures (demo copy, Streamlit server, browser) are those of test_dashboard_browser.py.
"""
from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from tests.dashboard.test_dashboard_browser import OUT, browser, demo, server, session  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wh(demo):  # noqa: F811 - the fixture imported above
    """Plain SQL on the demo warehouse's newest catalog snapshot."""
    from socscope.dashboard import data as D

    root, campaign = demo
    cat = D.Catalog(campaign.resolve(campaign.storage.warehouse))
    yield cat.query
    cat.close()


def aria(session, chart_index: int | None = None) -> list[str]:
    """The ARIA labels of the charts of the page (all, or the chart_index-th)."""
    charts = session.page.get_by_test_id("stVegaLiteChart")
    targets = [charts.nth(chart_index)] if chart_index is not None else charts.all()
    return [label for c in targets
            for label in c.evaluate("e => [...e.querySelectorAll('[aria-label]')].map(x => x.getAttribute('aria-label'))")]


def fields(label: str) -> dict[str, str]:
    """'a: 1; b: x' -> {'a': '1', 'b': 'x'} (a Vega mark's ARIA label)."""
    return dict(part.split(": ", 1) for part in label.split("; ") if ": " in part)


def download_csv(session, nth: int = 0) -> pd.DataFrame:
    button = session.page.get_by_test_id("stDownloadButton").filter(has_text="CSV").nth(nth)
    button.scroll_into_view_if_needed()
    with session.page.expect_download() as info:
        button.click()
    return pd.read_csv(info.value.path())


def close(a: float, b: float, rel: float = 1e-3) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12 if abs(b) > 1e-9 else 1e-30)


def test_soc_profiles_panels_are_in_physical_units_with_bootstrap_error_bars(session, wh):
    session.open_root()
    session.goto("SOC profiles")
    session.assert_clean("soc_profiles")
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
        lo, hi = float(bar["ci_low"]), float(bar["ci_high"])
        assert ((rows.ci_low - lo).abs() <= 1e-6 * rows.ci_low.abs().clip(lower=1e-30)
                & ((rows.ci_high - hi).abs() <= 1e-6 * rows.ci_high.abs().clip(lower=1e-30))).any(), bar
    assert any(float(b["ci_high"]) > float(b["ci_low"]) for b in bars), "no interval wider than a point"
    session.page.screenshot(path=str(OUT / "read-soc_profiles.png"), full_page=True)


def test_gitt_page_draws_the_warehouse_d_of_each_pulse(session, wh):
    session.open_root()
    session.goto("GITT")
    session.assert_clean("gitt")
    cell = session.page.get_by_test_id("stSelectbox").filter(has_text="Cell").inner_text().split("\n")[-1].strip()
    pulses = wh("select soc_pct, d_m2_s, d_sqrt_t_m2_s from current_gitt_pulses where cell_id = ?", [cell])
    expected = sorted(v for v in pd.concat([pulses.d_m2_s, pulses.d_sqrt_t_m2_s]).dropna() if v > 0)
    points = [fields(lab) for lab in aria(session, 0) if "estimate" in lab]
    drawn = sorted(float(p["D (m²/s)"]) for p in points)
    assert len(drawn) == len(expected) > 0, (len(drawn), len(expected))
    assert all(close(a, b) for a, b in zip(drawn, expected)), (drawn[:5], expected[:5])
    assert any(lab.startswith("Y-axis titled 'D (m²/s)' for a logarithmic scale") for lab in aria(session, 0))
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
    session.open_root()
    session.goto("ESM × C-AFM pixels")
    session.assert_clean("afm_pixels")
    label = session.page.get_by_test_id("stSelectbox").filter(has_text="Map pair").inner_text().split("\n")[-1]
    sample, location = [part.strip() for part in label.split("·")[:2]]
    pair = wh("""select r.pair_id from current_afm_registrations r join current_afm_maps m
                 on m.measurement_id = r.esm_measurement_id where m.sample_id = ? and r.location_tag = ?""",
              [sample, location]).pair_id
    assert len(pair) == 1, (sample, location)
    corr = wh("select n_pixels, pearson_r, spearman_rho from pixel_correlations where pair_id = ? and particle_id = 0",
              [pair[0]]).iloc[0]
    text = session.page.get_by_test_id("stMain").inner_text()
    assert f"Pearson r = {corr.pearson_r:.3f}" in text and f"Spearman ρ = {corr.spearman_rho:.3f}" in text, text
    assert f"n = {corr.n_pixels} pixels" in text and "mask: whole overlap" in text
    masked = wh("""select count(*) as n from current_afm_pairs where pair_id = ? and esm_amp_pm_per_v is not null
                   and current_pa is not null""", [pair[0]]).n[0]
    cells = [fields(lab) for lab in aria(session, 0) if "pixels: " in lab]
    assert sum(int(c["pixels"]) for c in cells) == masked == corr.n_pixels
    session.page.screenshot(path=str(OUT / "read-afm_pixels.png"), full_page=True)


def test_sample_page_shows_each_technique_of_the_sample_with_warehouse_values(session, wh):
    session.open_root()
    session.goto("Sample")
    session.assert_clean("sample")
    sample = session.page.get_by_test_id("stSelectbox").filter(has_text="Sample").inner_text().split("\n")[-1].strip()
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


def test_lineage_page_of_a_row_names_raw_file_reader_parameters_and_flow_run(session, wh):
    m = wh("""select m.measurement_id, m.raw_sha256, m.reader, m.params_id, m.flow_run_id, r.original_name
              from current_afm_maps m join raw_files r using (raw_sha256) order by m.measurement_id limit 1""").iloc[0]
    session.page.goto(f"{session.url}/lineage?table=afm_maps&key={m.measurement_id}")
    session.wait_loaded("")
    session.errors[:] = [e for e in session.errors if "/_stcore/" not in e]  # Streamlit's base-path probe
    session.assert_clean("lineage")
    text = session.page.get_by_test_id("stMain").inner_text()
    for value in (m.original_name, m.reader, m.params_id, m.flow_run_id, m.raw_sha256):
        assert str(value) in text, (value, text[:2000])
    session.page.screenshot(path=str(OUT / "read-lineage.png"), full_page=True)


def test_a_table_row_links_to_its_lineage(session):
    """A click on the 'lineage ↗' cell of a table opens the lineage page of that row (in a new tab)."""
    session.open_root()
    session.goto("ESM × C-AFM pixels")
    grid = session.page.get_by_test_id("stDataFrame").nth(1)  # the two maps of the pair, lineage first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    with session.page.context.expect_page() as new:
        session.page.mouse.click(box["x"] + 30, box["y"] + 35 + 17)  # first body row, first column
    tab = new.value
    tab.wait_for_load_state()
    assert "/lineage?table=afm_maps&key=" in tab.url, tab.url
    tab.close()
