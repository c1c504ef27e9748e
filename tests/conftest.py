"""Shared test fixtures. Real instrument files are read in place from ../shared/fixtures/real."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("SOCSCOPE_REAL_FIXTURES", PROJECT_ROOT.parent / "shared" / "fixtures" / "real"))


@pytest.fixture(scope="session")
def real() -> Path:
    """Folder of real vendor files (read-only; never copy them into the repository)."""
    if not REAL.is_dir():
        pytest.fail(f"real fixtures not found at {REAL}; set SOCSCOPE_REAL_FIXTURES")
    return REAL
