"""Refactor guard: the peak fit gives bit for bit what it gave before ``_fit_bucket`` was split.

An equivalence test against the pre-split implementation (commit 973935a, recorded in
``data/peakfit_reference.npz`` by ``peakfit_reference.py``), not a correctness test: the fit's
correctness against known answers is tested in ``test_fitting.py`` and ``test_calibration.py``.
It fails when a change to the fitting code moves any output by any bit — a reordered
floating-point sum, a changed default, a dropped iteration. If such a change is intended,
regenerate the file and say so in the commit.
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.sxpd.peakfit_reference import MADE_AT_COMMIT, REFERENCE, compute


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def recomputed() -> dict[str, np.ndarray]:
    return compute()


def test_reference_is_the_pre_split_one(reference) -> None:
    assert str(reference["_made_at_commit"]) == MADE_AT_COMMIT


def test_same_outputs_recorded(reference, recomputed) -> None:
    assert sorted(recomputed) == sorted(k for k in reference if not k.startswith("_"))


def test_every_output_bitwise_equal(reference, recomputed) -> None:
    differ = []
    for key, got in recomputed.items():
        want = reference.get(key)
        if want is None:
            continue  # reported by test_same_outputs_recorded
        numeric = got.dtype.kind in "fc" and want.dtype.kind in "fc"
        if got.dtype != want.dtype or not np.array_equal(got, want, equal_nan=numeric):
            differ.append(key)
    numpy_then = str(reference["_numpy_version"])
    assert not differ, (f"{len(differ)} outputs differ from the pre-split fit ({MADE_AT_COMMIT}), e.g. "
                        f"{differ[:8]}: a change of the numbers must be intended — then regenerate "
                        "tests/sxpd/data/peakfit_reference.npz (python -m tests.sxpd.peakfit_reference)"
                        + ("" if numpy_then == np.__version__ else
                           f"; numpy is {np.__version__} here, the reference was made with {numpy_then}: "
                           "check out the fitting code of a commit that passed and regenerate it"))
