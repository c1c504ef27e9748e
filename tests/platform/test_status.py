"""`socscope status` tells the truth: processed, quarantined and ignored files, a verdict that is complete
only when processed >= expected, the same as JSON for scripts; macOS junk is ignored, never received."""
from __future__ import annotations

import json

import yaml

from socscope.cli import main
from tests.support.toy_world import toy_one_quarantined, use_toy_registry


def _campaign(tmp_path, monkeypatch):
    use_toy_registry(monkeypatch)
    return toy_one_quarantined(tmp_path)


def status_json(cfg, capsys) -> dict:
    capsys.readouterr()
    assert main(["status", "--config", str(cfg), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_sample_whose_only_file_is_quarantined_is_not_complete(tmp_path, capsys, monkeypatch):
    cfg = _campaign(tmp_path, monkeypatch)
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    report = status_json(cfg, capsys)
    rows = {r["sample_id"]: r for r in report["samples"]}
    assert (rows["S1"]["received"], rows["S1"]["processed"], rows["S1"]["verdict"]) == (1, 1, "complete")
    assert (rows["S2"]["received"], rows["S2"]["processed"], rows["S2"]["quarantined"]) == (1, 0, 1)
    assert rows["S2"]["verdict"] == "quarantined"
    assert report["incomplete"] == 1
    assert [q["original_name"] for q in report["quarantine"]] == ["broken.csv"]
    monkeypatch.setenv("COLUMNS", "160")  # a wide terminal: one line per row
    assert main(["status", "--config", str(cfg), "--strict"]) == 1
    assert any("S2" in line and "quarantined" in line for line in capsys.readouterr().out.splitlines())


def test_macos_junk_is_ignored_listed_and_never_received_nor_quarantined(tmp_path, capsys, monkeypatch):
    cfg = _campaign(tmp_path, monkeypatch)
    (tmp_path / "share/S1/._a.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")  # AppleDouble
    (tmp_path / "share/S1/.DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "share/S1/a.csv~").write_text("#toy-csv\n9,9\n")  # an editor's backup
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    report = status_json(cfg, capsys)
    s1 = next(r for r in report["samples"] if r["sample_id"] == "S1")
    assert (s1["received"], s1["processed"], s1["quarantined"], s1["ignored"]) == (1, 1, 0, 3)
    assert sorted(i["original_name"] for i in report["ignored"]) == ["S1/.DS_Store", "S1/._a.csv", "S1/a.csv~"]
    assert all(i["how"] == "pattern" for i in report["ignored"])
    assert "._a.csv" not in json.dumps(report["quarantine"])
    assert main(["status", "--config", str(cfg), "--ignored"]) == 0
    assert "._a.csv" in capsys.readouterr().out

    data = yaml.safe_load(cfg.read_text())  # a share that keeps backups as data drops that default
    data["shares"][0]["drop_default_ignores"] = ["*~"]
    data["shares"][0]["ignore"] = ["*.bak"]
    cfg.write_text(yaml.safe_dump(data))
    (tmp_path / "share/S1/old.bak").write_text("#toy-csv\n9,9\n")
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    report = status_json(cfg, capsys)
    s1 = next(r for r in report["samples"] if r["sample_id"] == "S1")
    assert s1["received"] == 2  # a.csv and a.csv~
    assert "S1/old.bak" in [i["original_name"] for i in report["ignored"]]


def test_a_warnings_view_adds_a_count_per_sample_and_technique(tmp_path, monkeypatch):
    import duckdb

    from foundation.config import load_campaign
    from socscope.status import status_table
    from tasks import pipeline

    cfg = _campaign(tmp_path, monkeypatch)
    pipeline.run_local(cfg)
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    assert (status_table(campaign, wh.query).warnings == 0).all()  # the platform's warnings table, empty here

    con = duckdb.connect()  # the catalog's answers, plus a warnings view as the warnings helper builds it
    for name in ("raw_files", "sightings", "ingest_events", "param_sets", "sample_config", "ignored"):
        con.register(name, wh.query(f"select * from {name}"))
    con.execute("create view warnings as select 'S2' as sample_id, 'toy' as technique, 'x' as code union all "
                "select 'S2', 'toy', 'y'")
    table = status_table(campaign, lambda sql, params=None: con.execute(sql, params).df())
    assert dict(zip(table.sample_id, table.warnings)) == {"S1": 0, "S2": 2}
