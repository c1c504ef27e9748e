"""Fixtures for operations tests: free loopback ports, a local S3-compatible server (moto)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def put_on_store(cfg: Path, prefix: str, options: dict, monkeypatch, share: bool = False) -> None:
    """Rewrite the campaign file ``cfg`` so that its warehouse and raw store (and with ``share``, its first
    share) are under ``prefix`` (``s3://bucket/...``) on the store ``options`` reach; the store's key and
    secret come from the environment, as the config loader demands."""
    monkeypatch.setenv("SOCSCOPE_TEST_S3_KEY", options["key"])
    monkeypatch.setenv("SOCSCOPE_TEST_S3_SECRET", options["secret"])
    named = {**options, "key": "${SOCSCOPE_TEST_S3_KEY}", "secret": "${SOCSCOPE_TEST_S3_SECRET}"}
    data = yaml.safe_load(cfg.read_text())
    data["storage"] = {"warehouse": f"{prefix}/wh", "raw_store": f"{prefix}/raw", "storage_options": named}
    if share:
        data["shares"][0].update(url=f"{prefix}/share", storage_options=named)
    cfg.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 on 127.0.0.1 (random port) with one bucket; yields the storage_options to reach it."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="socscope")
    try:
        yield {"key": "test", "secret": "test",
               "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    finally:
        server.stop()


@pytest.fixture(autouse=True, scope="session")
def _quiet_moto():
    """moto's web server logs every request at INFO; keep test output readable."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
