"""Exposure: the Prefect server and the dashboard listen on loopback unless an auth setting is given;
any other address without one is refused before anything starts, in one line naming the setting."""
from __future__ import annotations

import sys

import pytest

from socscope import exposure, server
from socscope.cli import main
from socscope.dashboard import gate
from tests.support.toy_world import toy_campaign

AUTH_VARS = (exposure.SERVER_AUTH, exposure.CLIENT_AUTH, exposure.DASHBOARD_PASSWORD, exposure.DASHBOARD_HEADER)


@pytest.fixture(autouse=True)
def no_auth(monkeypatch):
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                       ("localhost", True), ("0.0.0.0", False), ("::", False),
                                       ("192.168.1.5", False), ("lab-server.example", False)])
def test_loopback_is_recognised(host, loop):
    assert exposure.is_loopback(host) is loop


def _one_line_naming(text: str, setting: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and "Traceback" not in text, text


def test_server_on_all_interfaces_without_auth_is_refused_before_starting(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    home = tmp_path / "prefect"
    assert main(["server", "up", "--config", str(cfg), "--home", str(home), "--host", "0.0.0.0"]) == 2
    _one_line_naming(capsys.readouterr().err, exposure.SERVER_AUTH)
    assert not home.exists()  # nothing was started, no pid file written
    with pytest.raises(exposure.ExposureError, match=exposure.SERVER_AUTH):
        server.up(cfg, home, host="10.1.2.3")


def test_server_with_auth_passes_the_check_and_logs_its_clients_in(monkeypatch, tmp_path):
    monkeypatch.setenv(exposure.SERVER_AUTH, "admin:s3cret-pass")
    exposure.check_server_bind("0.0.0.0", {exposure.SERVER_AUTH: "admin:s3cret-pass"})
    env = server.prefect_environment(tmp_path, 4321, host="0.0.0.0")
    assert env["PREFECT_SERVER_API_HOST"] == "0.0.0.0"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"  # local clients still use loopback
    assert env[exposure.CLIENT_AUTH] == "admin:s3cret-pass"  # worker and deploy log in
    assert server.prefect_environment(tmp_path, 4321)["PREFECT_SERVER_API_HOST"] == "127.0.0.1"  # default


def test_blank_auth_string_does_not_count():
    with pytest.raises(exposure.ExposureError):
        exposure.check_server_bind("0.0.0.0", {exposure.SERVER_AUTH: "  "})


def test_dashboard_on_all_interfaces_without_auth_is_refused(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)  # no warehouse yet: the refusal comes first
    assert main(["dashboard", "--config", str(cfg), "--address", "0.0.0.0"]) == 2
    _one_line_naming(capsys.readouterr().err, exposure.DASHBOARD_PASSWORD)
    for env in ({exposure.DASHBOARD_PASSWORD: "pw"}, {exposure.DASHBOARD_HEADER: "X-Forwarded-User"}):
        exposure.check_dashboard_bind("0.0.0.0", env)
    exposure.check_dashboard_bind("127.0.0.1", {})


def test_gate_admits_by_password_or_proxy_header_only():
    pw = {exposure.DASHBOARD_PASSWORD: "correct horse"}
    assert gate.admitted({}, {}, None)  # nothing configured: open (loopback only, checked at start)
    assert not gate.admitted(pw, {}, None)
    assert not gate.admitted(pw, {}, "correct hors")
    assert gate.admitted(pw, {}, "correct horse")
    proxy = {exposure.DASHBOARD_HEADER: "X-Forwarded-User"}
    assert not gate.admitted(proxy, {}, None)
    assert not gate.admitted(proxy, {"X-Forwarded-User": " "}, None)
    assert gate.admitted(proxy, {"X-Forwarded-User": "alice"}, None)


def _gated_app():
    from socscope.dashboard import gate

    gate.require_login()
    import streamlit as st

    st.write("warehouse contents")


def test_gate_in_streamlit_hides_the_app_until_the_password_is_typed(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(exposure.DASHBOARD_PASSWORD, "correct horse")
    # AppTest leaves its temporary script as __main__: a later spawned process (Dask's nanny) would
    # re-run that script and fail, so the test's own __main__ comes back afterwards
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_gated_app).run()
    assert not any("warehouse contents" in m.value for m in at.markdown)
    at.text_input(key="socscope_password").input("wrong").run()
    assert [e.value for e in at.error] == ["wrong password"]
    assert not any("warehouse contents" in m.value for m in at.markdown)
    at.text_input(key="socscope_password").input("correct horse").run()
    assert any("warehouse contents" in m.value for m in at.markdown)
