"""The page plumbing of the dashboard and the kit it hands every technique page.

Every page reads through ``q`` (plain SQL on the read-only catalog snapshot of this page run, see
data.py) and records what its main plot shows with ``main_plot``, for the footer the browser test
reads (views.run_page). ``KIT`` bundles these with the shared scales as the
``foundation.contract.PageKit`` a technique's ``Page.render(kit)`` gets, so that a technique page
never imports this package.
"""
from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st

from socscope.dashboard import data as D

SOC_SCALE = alt.Scale(scheme="viridis", domain=[0, 100])
BRANCH_SHAPES = alt.Scale(domain=["pristine", "charge", "discharge", "cycle", "rest"],
                          range=["diamond", "triangle-up", "triangle-down", "circle", "square"])
BRANCH_COLORS = alt.Scale(domain=["charge", "discharge", "rest", "pristine", "cycle"],
                          range=["#d1495b", "#00798c", "#9a9a9a", "#edae49", "#66a182"])
SERIES_DASH = alt.Scale(domain=["cumulative", "polished", "operando", "gitt"],
                        range=[[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]])


@dataclass
class Context:
    config: str
    campaign: Any
    root: str


def context(config: str) -> Context:
    path = Path(config).resolve()
    campaign = D.campaign_for(path)  # loaded by the server's warm-up (serve.py), once per process
    root = campaign.resolve(campaign.storage.warehouse)
    D.newest_snapshot(root)  # raises a clear FileNotFoundError before any page runs
    st.session_state["_ctx"] = Context(str(path), campaign, root)
    return st.session_state["_ctx"]


def ctx() -> Context:
    return st.session_state["_ctx"]


def catalog() -> D.Catalog:
    """The catalog of this session's warehouse (for helpers that query it themselves)."""
    return D.catalog_for(ctx().root)


def snap() -> D.Snapshot:
    """The snapshot of this page run (fixed at the start, so one page is one consistent view)."""
    if "_snap" not in st.session_state or st.session_state.get("_snap_run") != st.session_state.get("_run"):
        st.session_state["_snap"] = D.newest_snapshot(ctx().root)
        st.session_state["_snap_run"] = st.session_state.get("_run")
    return st.session_state["_snap"]


@st.cache_data(max_entries=512, show_spinner=False)
def _query(root: str, snap_path: str, version: int, sql: str, params: tuple) -> pd.DataFrame:
    return D.catalog_for(root).query(sql, params, snap=D.Snapshot(snap_path, version))


def q(sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    s = snap()
    return _query(ctx().root, s.path, s.version, sql, tuple(params)).copy()


@st.cache_resource(max_entries=3, show_spinner=False)
def _client(root: str, snap_path: str) -> tuple[Any, threading.Lock]:
    """A ``socscope.open`` client per snapshot (it stays on the snapshot it opened), with a lock: one
    DuckDB connection is not for several threads at once."""
    from socscope.client import Client

    return Client(root), threading.Lock()


def api(ask: Callable[[Any], Any]) -> Any:
    """``ask(client)`` on the Python API's read-only client of this page run's snapshot
    (``socscope.open``): its tables come with units, its lineage is the one of ``Client.lineage``."""
    client, lock = _client(ctx().root, snap().path)
    with lock:
        return ask(client)


def main_plot(df: pd.DataFrame, *cols: str) -> None:
    """Remember what the page's main plot shows (for the footer the browser test reads)."""
    shown = df[list(cols)] if cols else df
    digest = hashlib.sha256(pd.util.hash_pandas_object(shown.astype(str), index=False).values.tobytes()).hexdigest()
    st.session_state["_main"] = (len(df), digest[:10])


def chart(c: alt.Chart | alt.LayerChart, **kw):
    return st.altair_chart(c, width="stretch", **kw)


#: key column -> lineage view: a row of a measurement table by its measurement_id, a SOC-profile row by its key
LINEAGE_KEYS = ("measurement_id", "profile_key")


def _download_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return df.to_csv(index=False).encode("utf-8")
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def lineage_url(table: str, key: str) -> str:
    """The lineage page of one row (``page_lineage``): raw file, reader, parameters, flow run."""
    return "lineage?" + urlencode({"table": table, "key": key})


def table(df: pd.DataFrame, name: str, *, lineage: str | None = None, key: str | None = None, **kw) -> None:
    """A table with CSV and Parquet downloads under it; with ``lineage`` (the warehouse table the rows
    come from) and a measurement_id or profile_key column, each row links to its lineage page."""
    shown = df
    config = dict(kw.pop("column_config", {}) or {})
    col = next((c for c in LINEAGE_KEYS if c in df.columns), None)
    if lineage and col:
        links = [lineage_url(lineage, k) if isinstance(k, str) else None for k in df[col]]
        shown = df.assign(lineage=links)[["lineage", *df.columns]]
        config["lineage"] = st.column_config.LinkColumn("lineage", display_text="lineage ↗")
    st.dataframe(shown, hide_index=True, column_config=config or None, **kw)
    downloads(df, name, key)


def downloads(df: pd.DataFrame, name: str, key: str | None = None) -> None:
    """CSV and Parquet download buttons of ``df`` (files ``name.csv``, ``name.parquet``), for a table drawn
    otherwise (``st.table``: long sentences shown in full)."""
    key = key or name
    row = st.container(horizontal=True)
    for fmt, mime in (("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet")):
        # a callable: the bytes are made when the button is clicked, not at every page run
        row.download_button(f"{fmt.upper()}", functools.partial(_download_bytes, df, fmt), file_name=f"{name}.{fmt}", mime=mime,
                            key=f"dl_{fmt}_{key}", on_click="ignore", help=f"download these {len(df)} rows")


def empty(msg: str) -> None:
    st.info(msg)
    st.session_state["_main"] = (0, "empty")


class DashboardKit:
    """This dashboard's ``foundation.contract.PageKit`` (the members are documented there)."""

    st = st
    SOC_SCALE = SOC_SCALE
    BRANCH_SHAPES = BRANCH_SHAPES
    BRANCH_COLORS = BRANCH_COLORS
    SERIES_DASH = SERIES_DASH
    q = staticmethod(q)
    chart = staticmethod(chart)
    main_plot = staticmethod(main_plot)
    empty = staticmethod(empty)
    table = staticmethod(table)


KIT = DashboardKit()
