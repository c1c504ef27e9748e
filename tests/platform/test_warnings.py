"""Warnings as data: a technique declares them (Technique.warnings), the platform collects them into the
`warnings` table after the marts, keeps when each was first seen, and shows them at the end of a run and
in `socscope status`. The toy technique (an outside plugin package) declares `toy_out_of_range`."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from foundation.config import load_campaign
from socscope.cli import main
from tasks import pipeline
from tests.support.toy_technique import PARAMS
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.warnings import assemble, campaign_warnings, technique_warnings, warning_lines


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def test_a_declared_warning_reaches_the_table_the_run_and_status(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/ok.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "share/S2/hot.csv", [(1, 250), (2, 300), (3, 5)])
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    run_out = capsys.readouterr().out
    wh = pipeline.open_warehouse(load_campaign(cfg))
    w = wh.query("select * from warnings")
    assert list(w.code) == ["toy_out_of_range"] and list(w.sample_id) == ["S2"]
    assert list(w.original_name) == ["hot.csv"] and w.raw_sha256.str.len().iloc[0] == 64
    largest = 300 * yaml.safe_load(PARAMS.read_text())["scale"]["factor"]  # the toy process scales y
    assert f"2 point(s) above 100 V (largest {largest:.1f} V)" in w.message.iloc[0]
    assert "toy_out_of_range: 1" in run_out and "S2 hot.csv" in run_out  # the end of the run
    assert main(["status", "--config", str(cfg)]) == 0
    status_out = capsys.readouterr().out
    assert "warnings" in status_out and "toy_out_of_range: 1" in status_out and f"largest {largest:.1f} V" in status_out


def test_since_is_kept_across_builds_and_a_new_warning_gets_its_own(tmp_path, capsys):
    from warehouse.marts import build_marts

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/hot.csv", [(1, 250), (2, 3)])
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    campaign = load_campaign(cfg)
    first = pipeline.open_warehouse(campaign).query("select since from warnings").since.iloc[0]
    write_csv(tmp_path / "share/S2/hotter.csv", [(1, 900)])
    pipeline.run_local(campaign, flow_run_id="second")
    build_marts(campaign, pipeline.open_warehouse(campaign), "second")
    wh = pipeline.open_warehouse(campaign)
    w = campaign_warnings(wh, "second").set_index("sample_id")
    assert w.loc["S1", "since"] == first and not w.loc["S1", "new"]
    assert w.loc["S2", "since"] > first and w.loc["S2", "new"] and w.loc["S2", "flow_run_id"] == "second"


def test_a_warning_that_yields_the_wrong_columns_names_its_technique(tmp_path, monkeypatch):
    from tests.support.toy_technique import TECHNIQUE

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    campaign = load_campaign(cfg)
    pipeline.run_local(campaign)
    monkeypatch.setattr(TECHNIQUE, "warnings", {"bad": "select sample_id, raw_sha256 from current_toy_values"})
    with pytest.raises(RuntimeError, match=r"warning 'bad' of technique 'toy' yields 2 columns; it must yield 4"):
        technique_warnings(pipeline.open_warehouse(campaign))


def test_assemble_keys_names_and_dates_rows():
    now = pd.Timestamp("2026-12-01 10:00", tz="UTC")
    found = pd.DataFrame([{"technique": "t", "code": "c", "sample_id": "S", "raw_sha256": "ab", "subject": "m1",
                           "message": "x"}] * 2)  # a duplicate is one warning
    rows = assemble("camp", found, pd.DataFrame(columns=["warning_key", "since", "flow_run_id"]),
                    pd.DataFrame({"raw_sha256": ["ab"], "original_name": ["S/f.csv"]}), "run1", "p@1#0", now)
    assert len(rows) == 1 and rows.since.iloc[0] == now and rows.flow_run_id.iloc[0] == "run1"
    assert rows.original_name.iloc[0] == "S/f.csv"
    later = assemble("camp", found, rows[["warning_key", "since", "flow_run_id"]], pd.DataFrame(
        {"raw_sha256": [], "original_name": []}), "run2", "p@1#0", now + pd.Timedelta(hours=1))
    assert later.since.iloc[0] == now and later.flow_run_id.iloc[0] == "run1"


@pytest.mark.slow
def test_the_campaign_flow_ends_with_the_warnings_of_the_run(prefect_api, tmp_path):
    """On a real Prefect API: the flow's result and its printed end carry the warnings; those first found
    by this run are marked new, and a second run finds none new."""
    from flows.campaign import campaign_flow

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S2/hot.csv", [(1, 250)])
    first = campaign_flow(str(cfg))
    assert [(w["code"], w["sample_id"], w["new"]) for w in first["warnings"]] == [("toy_out_of_range", "S2", True)]
    assert warning_lines(first["warnings"])[0] == "toy_out_of_range: 1 (1 new)"  # what the flow prints
    second = campaign_flow(str(cfg))
    assert [(w["code"], w["new"]) for w in second["warnings"]] == [("toy_out_of_range", False)]


def test_files_kept_out_by_the_ignore_list_are_a_warning(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    for junk in ("share/S1/._a.csv", "share/S1/.DS_Store", "share/S2/b.csv~"):
        (tmp_path / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / junk).write_bytes(b"\x00\x05\x16\x07")
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    run_out = capsys.readouterr().out
    wh = pipeline.open_warehouse(load_campaign(cfg))
    w = wh.query("select sample_id, message from warnings where code = 'files_ignored' order by 1")
    assert list(w.sample_id) == ["S1", "S2"]
    assert w.message.iloc[0].startswith("2 files matched the share's ignore list") and "S1/._a.csv" in w.message.iloc[0]
    assert "files_ignored: 2" in run_out
