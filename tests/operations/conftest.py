"""Fixtures for operations tests: free loopback ports, a local S3-compatible server (moto)."""
from __future__ import annotations

import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
