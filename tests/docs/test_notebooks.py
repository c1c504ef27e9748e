"""The notebooks of examples/ execute (nbclient, a real kernel) on the real test files and on the small
demo warehouse, and are kept without outputs in git."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


def test_there_are_the_three_notebooks_and_they_carry_no_outputs():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03"]
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name}: strip its outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, demo_campaign, monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SOCSCOPE_DEMO", str(demo_campaign.base_dir))
    monkeypatch.setenv("SOCSCOPE_REAL_DATA", str(ROOT / "tests" / "data" / "real"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
                     for c in book.cells if c.cell_type == "code" for o in c.outputs)
    EXPECT[path.stem[:2]](text)


def _read_each(text: str) -> None:
    for reader in ("gwyddion-gwy@", "maccor-text@", "i11-xye@", "nexafs-processed-columns@"):
        assert reader in text, reader


def _demo(text: str) -> None:
    assert "a_angstrom" in text and "angstrom" in text  # the lattice of a sample, with its units
    assert "pass" in text  # a findings verdict


def _cross(text: str) -> None:
    assert "('afm', 'ESM', 'esm_particles_mean')" in text and "('sxpd', '', 'c')" in text
    assert "('nexafs', 'TEY', 'ni2_fraction')" in text
    assert "Pearson r =" in text and "c interpolated for" in text


EXPECT = {"01": _read_each, "02": _demo, "03": _cross}


@pytest.mark.slow
def test_the_getting_started_python_block_runs_on_the_demo(demo_campaign, tmp_path, monkeypatch):
    """docs/getting-started.md's Python, as written, from a folder where `demo` is the small demo."""
    import re

    text = (ROOT / "docs" / "getting-started.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (tmp_path / "demo").symlink_to(demo_campaign.base_dir)
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "getting-started.md", "exec"), scope)
    assert len(scope["lattice"]) > 0 and scope["lattice"].attrs["units"]["c_angstrom"] == "angstrom"
    assert scope["m"].reader.name == "i11-xye"
