"""The operations page: what needs a person's attention (quarantined and ignored files, warnings) and
the last runs; the campaign page shows only their counts, with a link here.

They have a page of their own because they are long tables of sentences, read in full by whoever runs
the platform: on the campaign page they were most of its elements, and so most of its drawing time in
the browser, for a reader who came to see where the campaign stands.
"""
from __future__ import annotations

import streamlit as st

from socscope import status as S
from socscope.dashboard import data as D
from socscope.dashboard.kit import downloads, q, table
from socscope.dashboard.warnings_view import warnings_of, warnings_section

TITLE = "Quarantine, warnings & runs"
QUARANTINE_SQL = """select technique, sample_id, original_name, stage, status, reason, error_type, reader,
                           params_id, attempted_at, raw_sha256 from quarantine order by attempted_at desc"""


def techniques_received() -> list[str]:
    """The techniques of the files on record (the choices of this page's filter)."""
    return sorted(set(q("select distinct technique from raw_files where technique is not null").technique))


def quarantined_of(techniques: list[str]):
    """The quarantined files of the chosen techniques, and those of no technique (unmapped files)."""
    quarantine = q(QUARANTINE_SQL)
    return quarantine[quarantine.technique.isin(techniques) | quarantine.technique.isna()]


def attention_line(techniques: list[str]) -> None:
    """One line on the campaign page: how many files are quarantined and how many warnings stand, with a
    link to the page that lists them."""
    quarantined = len(quarantined_of(techniques))
    w = warnings_of(techniques)
    warned = 0 if w is None else len(w)
    if quarantined or warned:
        st.warning(f"{quarantined} quarantined file(s), {warned} warning(s) for these techniques")
    else:
        st.success("no file quarantined, no warning")
    st.page_link(st.Page(page_operations, title=TITLE, url_path="operations"),
                 label="Quarantine, warnings and last runs →")


def page_operations() -> None:
    st.title(TITLE)
    techs = techniques_received()
    chosen = st.pills("Techniques", techs, selection_mode="multi", default=techs, key="operations_tech")
    st.subheader("Quarantine")
    quarantine = quarantined_of(chosen)
    if quarantine.empty:
        st.success("no file quarantined")
    else:  # a plain table: reasons are long sentences and must be readable in full
        st.table(quarantine.head(200).set_index("original_name"))
        downloads(quarantine, "quarantine", key="operations_quarantine")
    ignored = q(S.IGNORED_SQL)
    if len(ignored):
        with st.expander(f"Ignored files ({len(ignored)}): not data, never taken or quarantined"):
            table(ignored, "ignored_files")
    warnings_section(chosen)
    st.subheader("Last runs")
    runs = q("select * from flow_runs order by finished_at desc limit 10")
    if len(runs):
        table(runs.drop(columns=["detail_json"], errors="ignore"), "flow_runs")
    table(q(D.LAST_RUN_SQL), "last_runs")
