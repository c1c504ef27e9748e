"""socscope as the ecosystem installs it: a wheel built from the project, installed by pip from that
artefact into a folder of its own (offline, as tests/platform/test_plugin_package.py builds), then used
from a fresh interpreter that sees only that folder's socscope — not the source tree."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
PACKAGES = ("foundation", "socscope", "flows", "tasks", "schemas", "warehouse")

pytestmark = pytest.mark.slow


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the built wheel, the folder pip installed it into)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"  # a copy: building writes build/ and *.egg-info next to the sources
    source.mkdir()
    shutil.copy(PROJECT / "pyproject.toml", source)
    for pkg in PACKAGES:
        shutil.copytree(PROJECT / pkg, source / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), str(source))
    wheel = next((tmp / "dist").glob("socscope-*.whl"))
    _pip("install", "--no-deps", "--no-index", "--target", str(tmp / "site"), str(wheel))
    return wheel, tmp / "site"


def _fresh(args: list[str], site: Path, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy first, never the source tree
    env.pop("SOCSCOPE_PLUGINS", None)
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_wheel_holds_the_data_files_and_entry_points(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("warehouse/queries/lineage_of_profile_row.sql", "warehouse/views/10_samples.sql",
                   "tasks/afm/params/default.yaml", "socscope/default_campaign.yaml"):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "socscope = socscope.cli:main" in text and "afm = tasks.afm.plugin:TECHNIQUE" in text


def test_installed_socscope_imports_reads_and_says_its_version(installed, tmp_path):
    wheel, site = installed
    metadata = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist()
                                                if n.endswith(".dist-info/METADATA"))).decode()
    version = re.search(r"^Version: (\S+)$", metadata, re.M).group(1)
    assert version == re.search(r'^version = "([^"]+)"', (PROJECT / "pyproject.toml").read_text(), re.M).group(1)
    xye = PROJECT / "tests" / "data" / "real" / "sxpd" / "i11_si_standard_1410696" / "1410696_summed_mythen3.xye"
    code = ("import socscope, tasks.sxpd.plugin as p\n"
            "m = socscope.read(r'%s')\n"
            "print(socscope.__file__); print(p.__file__); print(socscope.__version__); print(m.data.shape)" % xye)
    lines = _fresh([sys.executable, "-c", code], site, tmp_path).splitlines()
    assert all(Path(line).is_relative_to(site) for line in lines[:2]), lines  # not the source tree
    assert lines[2] == version and lines[3] == "(15464, 3)"  # 15464 data lines in the .xye
    script = site / "bin" / "socscope"
    assert _fresh([str(script), "--version"], site, tmp_path).strip() == f"socscope {version}"
