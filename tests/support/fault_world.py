"""A small campaign for the fault tests (kills, concurrent runs, full disks, verify, gc).

Two techniques: the toy one (fast, two samples) and echem on two real cycler files from
tests/data (a BioLogic .mpr and an Arbin .csv), so that a real technique's tables, finalize and the
marts are written too. Runs go through the real command line (``socscope run --local``) in a
subprocess, so that a test can SIGKILL them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
REAL = PROJECT / "tests" / "data" / "real"
ECHEM_FILES = {"coin1": "biologic/00_test_01_OCV_C01.mpr", "coin2": "arbin/sample_data_arbin.csv"}
PLUGINS = "toy=tests.support.toy_technique"
CELL = dict(kind="coin", active_mass_mg=20.0, nominal_capacity_mah_g=150, lower_cutoff_v=3.0, upper_cutoff_v=4.2,
            electrode_area_cm2=1.5)
#: columns that say when or by which run a row was written: they differ between two correct runs
LINEAGE = {"flow_run_id", "processed_at", "first_seen", "attempted_at", "registered_at", "built_at", "seconds",
           "started_at", "finished_at", "created_at", "computed_at", "checked_at", "detail_json", "traceback_digest",
           "since", "seen_at",  # when a warning was first and last seen
           # a mart's cache key hashes the names of its input files, which are new in every run
           "fingerprint"}
#: tables that log runs rather than hold results (a killed run and its rerun log two)
RUN_LOGS = {"flow_runs"}


def write_toy(share: Path, sample: str, i: int) -> Path:
    path = share / "toy" / sample / f"t{i}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    offset = int(sample[1:]) * 10 + i
    path.write_text("#toy-csv\n" + "\n".join(f"{x},{x * 0.1 + offset}" for x in range(5)) + "\n")
    return path


def make_world(root: Path) -> Path:
    """Shares and campaign.yaml under ``root``; returns the config path."""
    share = root / "share"
    for sample in ("S1", "S2"):
        for i in range(2):
            write_toy(share, sample, i)
    for cell, rel in ECHEM_FILES.items():
        (share / "echem" / cell).mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL / "echem" / rel, share / "echem" / cell)
    mapping = lambda key: {"path_pattern": f"^(?P<{key}>[^/]+)/"}  # noqa: E731
    data = {
        "name": "fault-campaign", "storage": {"warehouse": "wh", "raw_store": "raw"},
        "samples": [{"id": "S1", "series": "cumulative", "branch": "charge", "soc_nominal_pct": 50, "cell": "coin1"},
                    {"id": "S2", "series": "cumulative", "branch": "charge", "soc_nominal_pct": 100, "cell": "coin2"}],
        "cells": [{"id": "coin1", **CELL}, {"id": "coin2", **CELL}],
        "shares": [{"name": "lab", "url": "share/toy", "technique": "toy", "patterns": ["**/*"],
                    "mapping": mapping("sample"), "settle_seconds": 0},
                   {"name": "cyclers", "url": "share/echem", "technique": "echem", "patterns": ["**/*"],
                    "mapping": mapping("cell"), "settle_seconds": 0}],
    }
    cfg = root / "campaign.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return cfg


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("SOCSCOPE_")}
    out.update(PYTHONPATH=str(PROJECT), SOCSCOPE_PLUGINS=PLUGINS, **extra)
    return out


def start_run(cfg: Path, **extra_env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "socscope.cli", "run", "--local", "--config", str(cfg)],
                            cwd=cfg.parent, env=env(**extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run(cfg: Path, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    proc = start_run(cfg, **extra_env)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "socscope.cli", *args, "--config", str(cfg)], cwd=cfg.parent,
                          env=env(), capture_output=True, text=True, timeout=timeout)


def _cell(value, root: str):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, str):  # raw-store paths name the world's folder
        return value.replace(root, "<world>")
    return value


def table_digests(con, tables: list[str], root: str = "\0") -> dict[str, tuple[int, str]]:
    """Rows and a sha256 of the sorted rows of each table, lineage columns left out."""
    out = {}
    for table in tables:
        cols = [r[0] for r in con.execute(f'describe "{table}"').fetchall() if r[0] not in LINEAGE]
        listing = ", ".join(f'"{c}"' for c in cols)
        rows = con.execute(f'select {listing} from "{table}" order by all').fetchall()
        text = "\n".join(repr(tuple(_cell(v, root) for v in r)) for r in rows)
        out[table] = (len(rows), hashlib.sha256(text.encode()).hexdigest()[:16])
    return out


def warehouse_digests(cfg: Path) -> dict[str, tuple[int, str]]:
    """``table_digests`` of every table and view, read as a user reads them: through the catalog file."""
    from warehouse.catalog import open_catalog

    con = open_catalog(cfg.parent / "wh")
    try:
        tables = sorted(r[0] for r in con.execute("select table_name from information_schema.tables "
                                                  "where table_type = 'VIEW'").fetchall())
        return table_digests(con, [t for t in tables if t not in RUN_LOGS], str(cfg.parent.resolve()))
    finally:
        con.close()


def copy_world(template: Path, dest: Path) -> Path:
    """A copy of a world whose share files keep their times (intake records mtimes)."""
    shutil.copytree(template, dest)
    return dest / "campaign.yaml"


_REFERENCE: dict[str, object] = {}


def reference_world(base: Path) -> tuple[Path, dict[str, tuple[int, str]]]:
    """A pristine world (copy it, never run in it) and the digests of one uninterrupted run on a copy;
    built once per test session and shared by the fault test modules."""
    if not _REFERENCE:
        template = base / "template"
        make_world(template)
        cfg = copy_world(template, base / "reference")
        done = run(cfg)
        assert done.returncode == 0, done.stderr[-3000:]
        _REFERENCE.update(template=template, digests=warehouse_digests(cfg))
    return _REFERENCE["template"], _REFERENCE["digests"]


def register_toy(monkeypatch) -> None:
    """The toy technique beside the real ones in this process too (the runs get it from SOCSCOPE_PLUGINS),
    so that in-process readers and verify know its tables."""
    import foundation.registry as reg

    name, module = PLUGINS.split("=")
    monkeypatch.setitem(reg.TECHNIQUE_MODULES, name, module)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The fault world and its uninterrupted run's table digests, built once per test module."""
    return reference_world(tmp_path_factory.getbasetemp() / "fault-world")


@pytest.fixture(autouse=True)
def toy_plugin(monkeypatch):
    register_toy(monkeypatch)
