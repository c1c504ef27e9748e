"""The "your own share" tutorial (docs/tutorial.md) run as written: its shell blocks, its campaign
file, its SQL and its Python, on the real LiNiO2 Ni K-edge spectra; then `socscope validate
--data-docs` on the warehouse it made. Expected edge positions come from the files' own normalised
column (SOLEIL's extranormal), read here with numpy, not from socscope."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", TUTORIAL.read_text(encoding="utf-8"), flags=re.S)


def half_step_from_file(path: Path) -> float:
    """Energy where the file's normalised absorption first reaches 0.5 (linear interpolation)."""
    data = np.loadtxt(path, comments="#")
    e, mu = data[:, 0], data[:, 1]
    inside = (e > 8300) & (e < 8400)
    e, mu = e[inside], mu[inside]
    i = int(np.argmax(mu >= 0.5))
    return float(e[i - 1] + (0.5 - mu[i - 1]) * (e[i] - e[i - 1]) / (mu[i] - mu[i - 1]))


@pytest.fixture(scope="module")
def lno(tmp_path_factory) -> Path:
    """The tutorial's folder after its shell blocks ran (in a checkout-like folder: ../tests is the repository's)."""
    top = tmp_path_factory.mktemp("checkout")
    (top / "tests").symlink_to(ROOT / "tests")
    bin_dir = top / "bin"
    bin_dir.mkdir()
    (bin_dir / "socscope").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m socscope.cli "$@"\n')
    (bin_dir / "socscope").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    env.pop("SOCSCOPE_CONFIG", None)
    shell = [b for b in blocks("bash") if '"select ..."' not in b]  # the query block repeats the SQL block
    init, share, run = shell
    campaign = blocks("yaml")[0]
    subprocess.run(["bash", "-euc", init], cwd=top, env=env, check=True, timeout=120)
    assert "samples:" in (top / "lno" / "campaign.yaml").read_text()  # init wrote the commented template
    (top / "lno" / "campaign.yaml").write_text(campaign)  # the edit the page shows
    for script in (share, run):
        done = subprocess.run(["bash", "-euc", script], cwd=top / "lno", env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "no file quarantined" in done.stdout
    return top / "lno"


def test_the_first_correlation_is_the_one_the_page_states(lno):
    import socscope

    with socscope.open(lno / "campaign.yaml") as wh:
        answer = wh.sql(blocks("sql")[0])
        feats = wh.table("xas_features", technique="nexafs")
    assert int(answer.n[0]) == 5
    assert answer.r[0] > 0.95  # the page says r ≈ 0.99
    files = sorted((lno / "share").glob("*/*.txt"))
    expected = {f.parent.name: half_step_from_file(f) for f in files}
    got = dict(zip(feats.sample_id, feats.k_half_step_ev))
    for sample, energy in expected.items():
        assert got[sample] == pytest.approx(energy, abs=0.25), sample  # our normalisation vs extranormal's
    shift = expected["LNO-98"] - expected["LNO-00"]
    assert 1.0 < shift < 1.8  # "about 1.4 eV from the first to the last"
    assert feats.attrs["units"]["k_half_step_ev"] == "eV"


def test_the_python_block_runs(lno, capsys):
    old = Path.cwd()
    os.chdir(lno)
    try:
        exec(compile(blocks("python")[0], str(TUTORIAL), "exec"), {})
    finally:
        os.chdir(old)
    assert "LNO-98" in capsys.readouterr().out


def test_validate_with_data_docs_on_the_tutorial_warehouse(lno):
    pytest.importorskip("great_expectations")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "socscope.cli", "validate", "--config", "campaign.yaml",
                           "--data-docs"], cwd=lno, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    index = lno / "var" / "warehouse" / "reports" / "gx" / "index.html"
    text = index.read_text()
    for table in ("xas_spectra", "xas_features", "raw_files", "ingest_events"):
        assert table in text and table in done.stdout
    broken = subprocess.run([sys.executable, "-m", "socscope.cli", "validate", "--config", "campaign.yaml",
                             "--table", "no_such_table"], cwd=lno, env=env, capture_output=True, text=True)
    assert broken.returncode == 2 and "no_such_table" in broken.stderr
