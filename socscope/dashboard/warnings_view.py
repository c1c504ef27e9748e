"""The warnings section of the campaign page and the ranked pairs of the correlations page.

Warnings are the `warnings` table (warehouse/warnings.py): values that were computed but should not
be trusted as they are, each with its sample, file, code, message and since when. Messages are
sentences, so they are shown as a plain table, readable in full.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from socscope.dashboard.kit import downloads, q, table
from warehouse.declared import missing_view

WARNINGS_SQL = """select code, technique, sample_id, original_name, message, since from warnings
                  order by code, sample_id nulls last, original_name nulls last, subject"""


def current_warnings() -> pd.DataFrame | None:
    """The warnings of the snapshot, or None when the warehouse has no warnings table yet."""
    try:
        return q(WARNINGS_SQL)
    except Exception as exc:  # noqa: BLE001 - a warehouse built before the warnings table
        if missing_view(exc):
            return None
        raise


def warnings_of(techniques: list[str]) -> pd.DataFrame | None:
    """The warnings of the chosen techniques and the marts' own, or None without a warnings table."""
    w = current_warnings()
    return None if w is None else w[w.technique.isin(techniques) | (w.technique == "marts")]


def warnings_section(techniques: list[str]) -> None:
    """Counts per code, then every warning of the chosen techniques (the marts' ones always)."""
    st.subheader("Warnings")
    st.caption("values computed but not to be trusted as they are (SOC label contradicted by the cycler, "
               "ESM without Q or drive, a fit at a bound, correlations resting on interpolated points...)")
    w = warnings_of(techniques)
    if w is None:
        st.info("no warnings table yet: run the marts (socscope run)")
        return
    if w.empty:
        st.success("no warnings")
        return
    counts = w.groupby("code", as_index=False).size().rename(columns={"size": "warnings"})
    table(counts, "warning_counts")
    files = w[w.technique != "marts"]
    if len(files):
        st.table(files.head(200).assign(since=files.since.astype(str)).set_index("code"))
        downloads(files, "warnings")
    marts = w[w.technique == "marts"]
    if len(marts):
        with st.expander(f"{len(marts)} warnings of the marts (correlations not ranked)"):
            st.table(marts.head(200)[["code", "message"]].set_index("code"))
            downloads(marts, "warnings_of_the_marts")


def ranked_pairs(sub: pd.DataFrame) -> None:
    """The ranked pairs of one series x branch: strongest first, with n, measured points and interval."""
    ranked = sub[sub.ranked.astype(bool)].assign(_r=-sub.pearson_r.abs()).sort_values("_r")
    st.markdown(f"**Strongest correlations** · {len(ranked)} of {len(sub)} pairs ranked: at least "
                "`correlations.min_measured_per_side` measured (not interpolated) points per side, "
                "trivial pairs (a feature and its variant, identical sources) left out")
    cols = ["feature_x", "feature_y", "pearson_r", "ci_low", "ci_high", "n", "n_measured_x", "n_measured_y"]
    if len(ranked):
        st.table(ranked[cols].head(30).round(3).set_index("feature_x"))
        downloads(ranked[cols], "ranked_correlations")
