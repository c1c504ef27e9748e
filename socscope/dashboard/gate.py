"""The dashboard's login gate (see socscope.exposure): a password from ``SOCSCOPE_DASHBOARD_PASSWORD``,
or a header that an authenticating reverse proxy sets (``SOCSCOPE_DASHBOARD_AUTH_HEADER``). With
neither set the dashboard is open, which `socscope dashboard` allows on loopback only."""
from __future__ import annotations

import hmac
from typing import Mapping

from socscope.exposure import DASHBOARD_HEADER, DASHBOARD_PASSWORD


def admitted(env: Mapping[str, str], headers: Mapping[str, str], typed: str | None) -> bool:
    """Whether a session may see the dashboard: the proxy's header is present, or the password matches."""
    header = env.get(DASHBOARD_HEADER, "").strip()
    password = env.get(DASHBOARD_PASSWORD, "")
    if not header and not password:
        return True
    if header and (headers.get(header) or "").strip():
        return True
    # compare_digest: the time taken says nothing about how much of the password was right
    return bool(password) and typed is not None and hmac.compare_digest(typed.encode(), password.encode())


def require_login() -> None:
    """Stop the script run unless the session is admitted; shows a password field when one is set."""
    import os

    import streamlit as st

    if st.session_state.get("socscope_admitted"):
        return
    headers = st.context.headers  # case-insensitive, as HTTP header names are
    if admitted(os.environ, headers, None):
        st.session_state["socscope_admitted"] = True
        return
    if not os.environ.get(DASHBOARD_PASSWORD):
        st.error(f"this dashboard is served behind a login proxy: the {os.environ[DASHBOARD_HEADER]} "
                 "header is missing")
        st.stop()
    typed = st.text_input("password", type="password", key="socscope_password")
    if typed and admitted(os.environ, headers, typed):
        st.session_state["socscope_admitted"] = True
        st.rerun()
    if typed:
        st.error("wrong password")
    st.stop()
