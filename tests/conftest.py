"""Shared test fixtures. Real instrument files live in the repository, under tests/data/ (real/ and peer/,
each with its manifest of source, commit, licence and sha256)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Prefect reads its settings at import: a writable home, no telemetry, a start-up timeout long
# enough for this machine (STACK_NOTES).
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="socscope-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA = PROJECT_ROOT / "tests" / "data"
REAL = DATA / "real"
PEER = DATA / "peer"


def _fixture_folder(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.fail(f"test data folder {folder} is missing: it is part of the repository (git checkout it)")
    return folder


@pytest.fixture(scope="session")
def real() -> Path:
    """Folder of real vendor files (tests/data/real, MANIFEST.md; read-only: never write into it)."""
    return _fixture_folder(REAL)


@pytest.fixture(scope="session")
def peer() -> Path:
    """Test files of other public projects (tests/data/peer, MANIFEST.tsv; read-only)."""
    return _fixture_folder(PEER)


@pytest.fixture(scope="session")
def prefect_api():
    """One real Prefect API (a temporary server) for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def demo_campaign(tmp_path_factory):
    """The small demo campaign, processed once without Prefect and shared by the end-to-end tests.

    Returns the loaded Campaign; tests must not write into it (copy it or use their own).
    """
    from socscope.demo import write_demo
    from tasks import pipeline
    from warehouse.marts import build_marts

    root = tmp_path_factory.mktemp("demo-small")
    campaign = write_demo(root, "small")
    pipeline.run_local(campaign)
    build_marts(campaign, pipeline.open_warehouse(campaign), "local")
    return campaign
