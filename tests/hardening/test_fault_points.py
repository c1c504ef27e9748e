"""The crash-test hook: a no-op unless armed; armed, it kills at the nth pass of its point only."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import timeit

from warehouse import faults

PROGRAM = """
from warehouse.faults import fault_point
for i in range(1, 6):
    fault_point("other")
    fault_point("here")
    print(i, flush=True)
"""


def _run(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOCSCOPE_")}
    return subprocess.run([sys.executable, "-c", PROGRAM], env={**clean, **env}, capture_output=True, text=True,
                          timeout=60, cwd=os.getcwd())


def test_unarmed_it_does_nothing_and_costs_next_to_nothing():
    assert not faults._ARMED
    done = _run()
    assert done.returncode == 0 and done.stdout.split() == ["1", "2", "3", "4", "5"]
    per_call = min(timeit.repeat(lambda: faults.fault_point("commit.locked"), number=10000, repeat=3)) / 10000
    assert per_call < 5e-6


def test_armed_it_kills_at_the_nth_pass_of_its_point():
    done = _run(SOCSCOPE_KILL_AT="here:3")
    assert done.returncode == -signal.SIGKILL and done.stdout.split() == ["1", "2"]
    assert _run(SOCSCOPE_KILL_AT="here").stdout == ""  # the first pass by default
    assert _run(SOCSCOPE_KILL_AT="nowhere").returncode == 0


def test_a_worker_that_hits_the_point_takes_the_run_with_it():
    child = "import subprocess, sys; subprocess.run([sys.executable, '-c', " + repr(PROGRAM) + "]); print('parent lived')"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOCSCOPE_")}
    done = subprocess.run([sys.executable, "-c", "import warehouse.faults\n" + child], capture_output=True, text=True,
                          env={**clean, "SOCSCOPE_KILL_AT": "here:2"}, timeout=60, cwd=os.getcwd())
    assert done.returncode == -signal.SIGKILL and "parent lived" not in done.stdout


def test_a_storage_error_is_found_in_a_worker_traceback():
    try:
        raise faults.StorageError("no space left on device while writing data/x; the warehouse is unchanged at version 3")
    except faults.StorageError:
        import traceback

        text = traceback.format_exc()
    found = faults.storage_error_in(text)
    assert isinstance(found, faults.StorageError) and str(found).startswith("no space left on device while writing")
    assert faults.storage_error_in("Traceback...\nValueError: bad file") is None and faults.storage_error_in(None) is None
