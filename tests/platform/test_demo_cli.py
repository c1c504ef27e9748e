"""The demo as a user runs it: `socscope demo` through Prefect, twice, then `socscope query`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "socscope.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def _counts(root: Path) -> dict:
    manifest = json.loads((root / "demo/warehouse/MANIFEST.json").read_text())
    return {t: sum(e["rows"] for e in es) for t, es in manifest["tables"].items()}


def test_demo_twice_changes_no_row_and_query_answers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    first = _run(["demo"], tmp_path, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "no file quarantined" in first.stdout
    out = first.stdout
    # progress per stage, through the flow's progress reports, with counts
    assert all(f"{stage} " in out for stage in ("intake", "process sxpd", "process afm", "marts")), out[-3000:]
    assert "findings: 23 pass" in out and "look at" in out and "socscope dashboard --config" in out
    report = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("report "))
    assert Path(report).is_file()
    assert (tmp_path / "demo/.prefect").is_dir()  # a project-local Prefect home, not the user's
    before = _counts(tmp_path)
    assert before["raw_files"] > 50 and before["findings"] == 23
    second = _run(["demo"], tmp_path, env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "this run: 0 new of" in second.stdout and "0 processed" in second.stdout
    after = _counts(tmp_path)
    assert {t: n for t, n in after.items() if t != "flow_runs"} == {t: n for t, n in before.items() if t != "flow_runs"}
    q = _run(["query", "select technique, count(*) as n from raw_files group by 1 order by 1", "--format", "csv"],
             tmp_path, env)
    assert q.returncode == 0, q.stderr
    lines = q.stdout.strip().splitlines()
    assert lines[0] == "technique,n"
    assert [line.split(",")[0] for line in lines[1:]] == ["afm", "echem", "nexafs", "sxpd"]
    bad = _run(["query", "select * from no_such_table"], tmp_path, env)
    assert bad.returncode != 0 and "no_such_table" in bad.stderr
