"""The Prefect server on PostgreSQL (Debian's postgresql), as documented for busy or multi-worker sites.

The test runs a private PostgreSQL instance as the postgres user (PostgreSQL refuses to run as
root) in a temporary directory on a free loopback port, so the machine's own cluster is untouched.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from foundation.config import load_campaign
from socscope import server
from tasks import pipeline
from tests.operations.conftest import free_port
from tests.support.toy_world import toy_campaign, write_csv

pytestmark = pytest.mark.slow


def _pg_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return cmd if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture
def postgres_url():
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("Debian's postgresql is not installed (scripts/setup.sh --system-tools installs it)")
    root = Path(tempfile.mkdtemp(prefix="socscope-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "prefect", "-A", "trust"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-w", "-o",
                                 f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    try:
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "prefect"],
                       check=True, capture_output=True)
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect", (bin_dir, port)
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_server_on_postgresql_runs_a_campaign(postgres_url, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import foundation.registry as reg
    from flows.campaign import campaign_flow

    url, (bin_dir, port) = postgres_url
    monkeypatch.setitem(reg.TECHNIQUE_MODULES, "toy", "tests.support.toy_technique")
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    home = tmp_path / "prefect"
    try:
        info = server.up(cfg, home, free_port(), workers=0, database_url=url)
        assert server.status(home)["database"] == "postgresql"
        with temporary_settings(updates={PREFECT_API_URL: info["api_url"]}):
            state = campaign_flow(str(cfg), ["toy"], False, return_state=True)
        assert state.is_completed(), state
    finally:
        server.down(home)
    assert len(pipeline.open_warehouse(load_campaign(cfg)).query("select * from toy_values")) == 1
    # the run is in PostgreSQL, not in a SQLite file under the home
    out = subprocess.run([str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "-d", "prefect",
                          "-tAc", "select count(*) from flow_run"], check=True, capture_output=True, text=True)
    assert int(out.stdout.strip()) >= 2  # campaign + process
    assert not (home / "prefect.db").exists()
