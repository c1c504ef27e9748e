"""The dashboard's data helpers without a warehouse or a browser (fast)."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from foundation.sql import ident
from socscope.dashboard import data as D
from tasks.afm import page_sql


def test_the_verdict_is_complete_only_when_processed_reaches_expected():
    from socscope.status import verdict

    assert verdict(expected=1, received=1, processed=0, quarantined=1, sample_id="A") == "quarantined"
    assert verdict(expected=2, received=2, processed=2, quarantined=1, sample_id="A") == "complete"
    assert verdict(expected=2, received=2, processed=1, quarantined=0, sample_id="A") == "pending"
    assert verdict(expected=2, received=1, processed=1, quarantined=0, sample_id="A") == "partial"
    assert verdict(expected=1, received=0, processed=0, quarantined=0, sample_id="A") == "missing"
    assert verdict(expected=0, received=1, processed=1, quarantined=0, sample_id="A") == "unexpected"
    assert verdict(expected=0, received=3, processed=3, quarantined=0, sample_id=None) == "reference"


def test_grid_step():
    assert page_sql.grid_step(256, 64) == 4 and page_sql.grid_step(128, 64) == 2 and page_sql.grid_step(50, 64) == 1


def test_ident_quotes_plain_column_names_only():
    assert ident("esm_amp_pm_per_v") == '"esm_amp_pm_per_v"'
    for bad in ['height_nm" as v from raw_files --', "x; drop", "", "Height"]:
        with pytest.raises(ValueError, match="not a column name"):
            ident(bad)


@pytest.fixture()
def pixels(tmp_path):
    """A 10 × 10 map with a square particle in the middle, as a catalog snapshot."""
    root = tmp_path / "wh"
    (root / "catalogs").mkdir(parents=True)
    con = duckdb.connect(str(root / "catalogs" / "00000001.duckdb"))
    xs, ys = np.meshgrid(np.arange(10) * 0.1 + 0.05, np.arange(10) * 0.1 + 0.05)
    inside = (xs > 0.3) & (xs < 0.7) & (ys > 0.3) & (ys < 0.7)
    df = pd.DataFrame({"measurement_id": "m", "x_um": xs.ravel(), "y_um": ys.ravel(),
                       "esm_amp_pm_per_v": np.where(inside, 10.0, 2.0).ravel(),
                       "particle_id": np.where(inside, 1, 0).ravel(),
                       "dist_to_boundary_um": 0.05, "region": np.where(inside, "core", "matrix").ravel()})
    con.execute("create table afm_pixels as select * from df")
    con.close()
    return root


def test_map_downsampling_and_line_profile_in_sql(pixels):
    cat = D.Catalog(pixels)
    try:
        assert cat.snapshot().version == 1
        grid = cat.query(page_sql.map_sql("esm_amp_pm_per_v", 2), ["m"])
        assert len(grid) == 25 and grid.value.between(2, 10).all()
        assert grid.value.mean() == pytest.approx((16 * 10 + 84 * 2) / 100)
        prof = cat.query(page_sql.line_profile_sql("esm_amp_pm_per_v"), [0.0, 0.55, 1.0, 0.55, 0.1, "m"])
        assert prof.value.max() == 10.0 and prof.value.min() == 2.0
        inside = prof[(prof.distance_um > 0.35) & (prof.distance_um < 0.65)]
        assert (inside.value == 10.0).all()
        outline = cat.query(page_sql.OUTLINE_SQL, ["m", 0.1])
        assert len(outline) == 16
    finally:
        cat.close()


def test_dashboard_command_without_a_warehouse_says_so(tmp_path, capsys):
    from socscope.cli import main
    from socscope.dashboard import streamlit_command
    from socscope.demo import demo_config_text

    config = tmp_path / "campaign.yaml"
    config.write_text(demo_config_text("small"), encoding="utf-8")
    assert main(["dashboard", "--config", str(config), "--port", "0"]) == 2
    assert "no warehouse catalog" in capsys.readouterr().err
    cmd = streamlit_command(config, 8599)
    for flag, value in [("--server.address", "127.0.0.1"), ("--server.headless", "true"),
                        ("--browser.gatherUsageStats", "false"), ("--server.port", "8599")]:
        assert cmd[cmd.index(flag) + 1] == value


def test_table_downloads_round_trip_through_pyarrow_and_the_csv_reader():
    """What the CSV and Parquet buttons under every table hand out, read back by pyarrow's own readers."""
    import io

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from socscope.dashboard.kit import _download_bytes

    df = pd.DataFrame({"sample_id": ["A", "B"], "d_m2_s": [2.215e-16, np.nan], "n": [3, 4]})
    back = pq.read_table(io.BytesIO(_download_bytes(df, "parquet"))).to_pandas()
    pd.testing.assert_frame_equal(back, df)
    csv = pacsv.read_csv(io.BytesIO(_download_bytes(df, "csv"))).to_pandas()
    assert list(csv.sample_id) == ["A", "B"] and csv.d_m2_s[0] == 2.215e-16 and np.isnan(csv.d_m2_s[1])
