"""A technique package from outside socscope, installed for real, gets everything a built-in one does.

tests/toy_plugin is built and installed with pip into a folder of its own (offline: no build isolation,
the venv's setuptools and wheel), and a campaign with a toy share runs in a fresh interpreter that
finds the toy only through its entry point (``socscope.techniques``). No platform file names the toy:
its tables, view, quality check, marts feature and dashboard page all come from the package.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.toy_world import toy_campaign, write_csv
from warehouse.catalog import open_catalog

PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = PROJECT / "tests" / "toy_plugin"

pytestmark = pytest.mark.slow

# what the installed toy declares, as the registry of the fresh interpreter sees it
DECLARED = """
import json
from foundation import registry
toy = registry.technique("toy")
print(json.dumps({"module": type(toy.readers[0]).__module__, "pages": [p.slug for p in toy.pages],
                  "registered": sorted(registry.TECHNIQUE_MODULES)}))
"""


# the dashboard (its own frame, app.py's steps) on the toy's page, in Streamlit's AppTest
DASHBOARD_PAGE = """
import json
from streamlit.testing.v1 import AppTest

APP = '''
import os

import streamlit as st

from socscope.dashboard import kit, views

context = kit.context(os.environ["TOY_CONFIG"])
pages = views.streamlit_pages()
nav = st.navigation(pages, position="sidebar")
if nav.url_path != "toy":  # switch_page refuses a page that is not in the navigation
    st.switch_page(next(page for page in pages if page.url_path == "toy"))
views.run_page(nav, context)
'''

at = AppTest.from_string(APP).run(timeout=120)
print(json.dumps({"errors": [e.value for e in at.exception], "tables": len(at.dataframe),
                  "footer": [c.value for c in at.caption if c.value.startswith("page-ready")]}))
"""


def install(target: Path, build_dir: Path) -> None:
    source = build_dir / "toy_plugin"  # a copy: building writes build/ and *.egg-info next to the sources
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip could not install the toy plugin:\n{done.stdout}\n{done.stderr}"


def in_fresh_python(args: list[str], target: Path, cwd: Path, **extra_env: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(PROJECT)]), **extra_env}
    env.pop("SOCSCOPE_PLUGINS", None)  # the entry point alone must find the toy
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


def test_installed_toy_package_gets_tables_views_checks_features_and_a_page(tmp_path):
    target = tmp_path / "site"
    install(target, tmp_path)
    cfg = toy_campaign(tmp_path / "campaign")
    write_csv(tmp_path / "campaign/share/S1/a.csv", [(1, 2), (3, 4)])
    write_csv(tmp_path / "campaign/share/S2/b.csv", [(5, 6)])

    declared = json.loads(in_fresh_python(["-c", DECLARED], target, tmp_path))
    assert declared["module"] == "socscope_toy.readers"  # the installed package, not the source tree
    assert "toy" in declared["registered"] and declared["pages"], declared
    in_fresh_python(["-m", "socscope.cli", "run", "--local", "--config", str(cfg)], target, tmp_path)

    con = open_catalog(tmp_path / "campaign" / "wh")
    try:
        assert con.execute("select count(*) from toy_values").fetchone()[0] == 3
        means = dict(con.execute("select sample_id, mean_y_v from toy_sample_means").fetchall())
        assert means == {"S1": pytest.approx(6.0), "S2": pytest.approx(12.0)}  # y scaled by the params' 2.0
        checks = con.execute("select technique, subject, passed from quality where check_name = 'toy_values_finite'")
        assert {(t, bool(p)) for t, _, p in checks.fetchall()} == {("toy", True)}
        profile = con.execute("select sample_id, n from soc_profile where technique = 'toy' and feature = 'y' "
                              "and not interpolated order by 1").fetchall()
        assert profile == [("S1", 2), ("S2", 1)]
    finally:
        con.close()

    page = json.loads(in_fresh_python(["-c", DASHBOARD_PAGE], target, tmp_path, TOY_CONFIG=str(cfg)).splitlines()[-1])
    assert page["errors"] == [] and page["tables"] == 1, page
    assert page["footer"] and page["footer"][0].startswith("page-ready · main plot: 2 points"), page  # S1, S2 means
