"""The operator's commands through the CLI, their flows on the session's real Prefect API: retry,
reprocess --force, ignore / unignore (a person's decision, kept), and explain (writes nothing)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from foundation.config import load_campaign
from socscope.cli import main
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


@pytest.fixture
def ran(tmp_path) -> Path:
    """A toy campaign run once: S1/a.csv and S2/b.csv processed, S2/broken.csv quarantined."""
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share/S2/b.csv", [(3, 4)])
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    pipeline.run_local(cfg)
    return cfg


def attempted(cfg: Path) -> dict[str, tuple]:
    wh = pipeline.open_warehouse(load_campaign(cfg))
    ev = wh.query("select original_name, status, attempted_at from ingest_events where stage = 'process'")
    return {r.original_name: (r.status, r.attempted_at) for r in ev.itertuples()}


def tree_digest(*roots: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for root in roots for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.slow
def test_retry_attempts_the_quarantined_files_again_and_nothing_else(prefect_api, ran, capsys):
    before = attempted(ran)
    assert main(["retry", "--config", str(ran)]) == 0
    after = attempted(ran)
    assert after["broken.csv"][1] > before["broken.csv"][1] and after["broken.csv"][0] == "quarantined"
    assert {k: after[k] for k in ("a.csv", "b.csv")} == {k: before[k] for k in ("a.csv", "b.csv")}
    assert "retry: 1 files attempted, 1 quarantined" in capsys.readouterr().out

    assert main(["retry", "--config", str(ran), "--file", "S1/*"]) == 0  # nothing of S1 is quarantined
    assert attempted(ran) == after


@pytest.mark.slow
def test_reprocess_force_takes_done_files_again(prefect_api, ran):
    before = attempted(ran)
    assert main(["reprocess", "--config", str(ran), "--technique", "toy", "--file", "S1/*"]) == 0
    assert attempted(ran) == before  # without --force a done file stays done
    assert main(["reprocess", "--config", str(ran), "--technique", "toy", "--force", "--file", "S1/*"]) == 0
    after = attempted(ran)
    assert after["a.csv"][1] > before["a.csv"][1] and after["b.csv"] == before["b.csv"]


@pytest.mark.slow
def test_ignore_and_unignore_are_kept_decisions(prefect_api, ran, capsys):
    assert main(["ignore", "S2/broken.csv", "--why", "a test export, not data", "--who", "ada",
                 "--config", str(ran)]) == 0
    wh = pipeline.open_warehouse(load_campaign(ran))
    assert len(wh.query("select * from quarantine")) == 0
    ignored = wh.query("select how, original_name, who, why from ignored")
    assert ignored.values.tolist() == [["person", "S2/broken.csv", "ada", "a test export, not data"]]
    before = attempted(ran)
    assert main(["retry", "--config", str(ran)]) == 0  # an ignored file is never processed
    pipeline.run_local(ran)
    assert attempted(ran) == before

    assert main(["unignore", "S2/broken.csv", "--why", "it is data after all", "--who", "bob",
                 "--config", str(ran)]) == 0
    wh = pipeline.open_warehouse(load_campaign(ran))
    log = wh.query("select action, who, why from decisions order by decided_at").values.tolist()
    assert log == [["ignore", "ada", "a test export, not data"], ["unignore", "bob", "it is data after all"]]
    assert len(wh.query("select * from ignored")) == 0 and len(wh.query("select * from quarantine")) == 1
    assert main(["ignore", "no-such-file.csv", "--why", "x", "--config", str(ran), "--local"]) == 2


def test_explain_says_share_sample_reader_and_rows_and_writes_nothing(ran, tmp_path, capsys):
    import json

    write_csv(tmp_path / "share/S1/new.csv", [(5, 6), (7, 8)])  # on the share, not taken yet
    (tmp_path / "share/S1/._new.csv").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    state = tree_digest(tmp_path / "wh", tmp_path / "raw")

    def explain(spec: str) -> dict:
        capsys.readouterr()
        assert main(["explain", spec, "--config", str(ran), "--format", "json"]) == 0
        return json.loads(capsys.readouterr().out)

    new = explain(str(tmp_path / "share/S1/new.csv"))
    steps = dict(new["steps"])
    assert new["outcome"] == "would write" and new["tables"] == {"toy_values": 2}
    assert "'lab'" in steps["share"] and "'**/*'" in steps["share"]
    assert "'S1'" in steps["sample"] and "toy-csv" in steps["reader"] and "never attempted" in steps["ledger"]

    broken = explain("lab:S2/broken.csv")
    reader = dict(broken["steps"])["reader"]
    assert broken["outcome"] == "would refuse" and "toy-csv" in reader and "not two numbers" in reader
    assert "leaves it" in dict(broken["steps"])["ledger"]
    assert explain(str(tmp_path / "share/S1/._new.csv"))["outcome"] == "ignored"
    assert explain("a.csv")["outcome"] == "would write"
    assert main(["explain", "nothing-like-this", "--config", str(ran)]) == 2
    assert tree_digest(tmp_path / "wh", tmp_path / "raw") == state
