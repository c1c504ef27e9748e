"""The command line on a small toy campaign: init, run --local, status, query."""
import yaml

from socscope.cli import main
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv


def test_init_writes_a_config_that_validates(tmp_path, capsys):
    path = tmp_path / "campaign.yaml"
    assert main(["init", str(path)]) == 0
    assert main(["init", str(path)]) == 1  # never overwrites without --force
    assert main(["status", "--config", str(path)]) in (0, 1)


def test_status_shows_expected_vs_received_and_strict_fails_when_missing(tmp_path, capsys, monkeypatch):
    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    data["expected"] = {"S1": {"toy": 2}, "S2": {"toy": 1}}
    cfg.write_text(yaml.safe_dump(data))
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share/S2/b.csv", [(5, 6)])
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(cfg), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "partial" in out and "complete" in out
    write_csv(tmp_path / "share/S1/c.csv", [(3, 4)])
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    assert main(["status", "--config", str(cfg), "--strict"]) == 0


def test_query_formats_and_errors(tmp_path, capsys, monkeypatch):
    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["query", "--config", str(cfg), "select sample_id, count(*) as n from toy_values group by 1",
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["sample_id,n", "S1,2"]
    out = tmp_path / "q.parquet"
    assert main(["query", "--config", str(cfg), "select * from raw_files", "--format", "parquet", "--out", str(out)]) == 0
    import pandas as pd

    assert len(pd.read_parquet(out)) == 1
    assert main(["query", "--config", str(cfg), "select * from nope"]) == 2
    assert main(["query", "--config", str(cfg), "--name", "no_such_query"]) == 2
    assert main(["status", "--config", str(tmp_path / "missing.yaml")]) == 2
