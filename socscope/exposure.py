"""Who may reach the Prefect server and the dashboard.

Both listen on loopback (127.0.0.1) by default. Listening on any other address puts the API (which can
start flow runs) and the warehouse's contents on the network, so it is allowed only with an
authentication setting, and refused with one line naming that setting otherwise:

- Prefect server: ``PREFECT_SERVER_API_AUTH_STRING=user:password`` (Prefect's own basic auth; the
  server's workers and clients then need ``PREFECT_API_AUTH_STRING`` with the same value, which
  ``socscope server up`` passes on to the processes it starts).
- Dashboard: ``SOCSCOPE_DASHBOARD_PASSWORD`` (a login gate in the app), or
  ``SOCSCOPE_DASHBOARD_AUTH_HEADER`` naming the header an authenticating reverse proxy sets
  (e.g. ``X-Forwarded-User``); the app then refuses every session without that header.
"""
from __future__ import annotations

import ipaddress
from typing import Mapping

SERVER_AUTH = "PREFECT_SERVER_API_AUTH_STRING"
CLIENT_AUTH = "PREFECT_API_AUTH_STRING"
DASHBOARD_PASSWORD = "SOCSCOPE_DASHBOARD_PASSWORD"
DASHBOARD_HEADER = "SOCSCOPE_DASHBOARD_AUTH_HEADER"


class ExposureError(RuntimeError):
    """A network-facing bind without an authentication setting."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def check_server_bind(host: str, env: Mapping[str, str]) -> None:
    if not is_loopback(host) and not env.get(SERVER_AUTH, "").strip():
        raise ExposureError(f"refusing to serve the Prefect API on {host} without authentication: "
                            f"set {SERVER_AUTH}=user:password (or keep the default --host 127.0.0.1)")


def check_dashboard_bind(address: str, env: Mapping[str, str]) -> None:
    if not is_loopback(address) and not (env.get(DASHBOARD_PASSWORD, "").strip()
                                         or env.get(DASHBOARD_HEADER, "").strip()):
        raise ExposureError(f"refusing to serve the dashboard on {address} without authentication: "
                            f"set {DASHBOARD_PASSWORD} (or {DASHBOARD_HEADER} behind an authenticating "
                            f"reverse proxy), or keep the default --address 127.0.0.1")
