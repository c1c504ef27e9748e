"""Two campaign-wide pages read through the Python API (``socscope.open``, kit.api): one sample with every
technique side by side, and the lineage of one row (raw file, reader, parameters, flow run), which
every table's rows link to (kit.table)."""
from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from foundation.registry import available_techniques
from socscope.dashboard.kit import api, chart, ctx, downloads, empty, main_plot, table

#: the measurement table of each technique shown on the sample page (its files, one row each)
FILE_TABLES = {"afm": "afm_maps", "sxpd": "sxpd_patterns", "nexafs": "xas_spectra", "echem": "echem_cycles"}
FILE_COLUMNS = ("measurement_id", "mode", "original_name", "measured_at", "cell_id", "cycle", "scan_number")
PROFILE_COLUMNS = ["feature", "mode", "mean", "ci_low", "ci_high", "unit", "n", "observation", "profile_key"]


# ------------------------------------------------------------------------------------------- sample
def page_sample() -> None:
    st.title("Sample")
    st.caption("One sample, every technique side by side: its measured features (soc_profile mart, mean with the "
               "bootstrap 95 % interval ci_low–ci_high, in the feature's unit) and its measurements, each row linked to its lineage.")
    samples = api(lambda c: c.table("samples", current=False))
    if samples.empty:
        return empty("no samples in the warehouse")
    ids = list(samples.sample_id)
    sample = st.selectbox("Sample", ids, index=ids.index(_richest(ids)), key="sample_id")
    s = samples[samples.sample_id == sample].iloc[0]
    _sample_header(s)
    prof = api(lambda c: c.table("soc_profile", sample=sample, current=False))
    prof = prof[~prof.interpolated] if len(prof) else prof
    techs = [t for t in available_techniques() if t in set(prof.get("technique", ())) or _has_files(t, sample)]
    if not techs:
        return empty(f"no technique has data of {sample}")
    if len(prof):
        _standing_chart(sample, prof)
    else:
        main_plot(pd.DataFrame({"technique": techs}))
    for tech, col in zip(techs, st.columns(len(techs))):
        with col:
            _technique_column(tech, sample, prof[prof.technique == tech] if len(prof) else prof)


def _richest(ids: list[str]) -> str:
    """The default sample: the one measured by the most techniques (first in campaign order on a tie)."""
    n = api(lambda c: c.sql("SELECT sample_id, count(DISTINCT technique) AS n FROM soc_profile "
                            "WHERE NOT interpolated GROUP BY sample_id"))
    counts = dict(zip(n.sample_id, n.n))
    return max(ids, key=lambda s: counts.get(s, 0))


def _standing_chart(sample: str, prof: pd.DataFrame) -> None:
    """Where the sample stands among the campaign's measured samples, feature by feature: its percentile
    rank (units differ between features; the value with its unit is in the tooltip and the tables)."""
    every = api(lambda c: c.sql("SELECT technique, mode, feature, sample_id, mean FROM soc_profile "
                                "WHERE NOT interpolated AND mean IS NOT NULL"))
    every["rank_pct"] = every.groupby(["technique", "mode", "feature"], dropna=False)["mean"].rank(pct=True) * 100
    mine = prof.merge(every[every.sample_id == sample][["technique", "mode", "feature", "rank_pct"]],
                      on=["technique", "mode", "feature"], how="left")
    mine["label"] = mine.technique + ":" + mine["mode"].fillna("") + ":" + mine.feature
    chart(alt.Chart(mine).mark_bar().encode(
        x=alt.X("rank_pct:Q", title=f"percentile of {sample} among the measured samples (%)",
                scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=300)),
        color=alt.Color("technique:N"),
        tooltip=["label", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("ci_low:Q", format=".4g"),
                 alt.Tooltip("ci_high:Q", format=".4g"), "unit", "n", alt.Tooltip("rank_pct:Q", format=".0f")])
        .properties(height=alt.Step(18)))
    main_plot(mine, "profile_key", "mean", "rank_pct")


def _sample_header(s: pd.Series) -> None:
    cols = st.columns(5)
    for col, (label, value) in zip(cols, [("series", s.get("series")), ("branch", s.get("branch")),
                                          ("SOC nominal (%)", s.get("soc_nominal_pct")),
                                          ("SOC measured (%)", s.get("soc_measured_pct")), ("cell", s.get("cell_id"))]):
        col.metric(label, "—" if value is None or pd.isna(value) else
                   (f"{value:.1f}" if isinstance(value, float) else str(value)))


def _has_files(tech: str, sample: str) -> bool:
    name = FILE_TABLES.get(tech)
    return bool(name) and name in api(lambda c: c.names()) and len(_files(name, sample)) > 0


def _files(name: str, sample: str) -> pd.DataFrame:
    rows = api(lambda c: c.table(name, sample=sample))
    keep = [c for c in FILE_COLUMNS if c in rows.columns]
    return rows[keep].drop_duplicates() if keep else rows


def _technique_column(tech: str, sample: str, prof: pd.DataFrame) -> None:
    st.subheader(tech)
    if len(prof):
        shown = prof[PROFILE_COLUMNS].sort_values(["feature", "mode"])
        table(shown, f"{sample}_{tech}_features", lineage="soc_profile", key=f"sample_feat_{tech}", height=320)
    name = FILE_TABLES.get(tech)
    if name and name in api(lambda c: c.names()):
        files = _files(name, sample)
        st.caption(f"{len(files)} rows of {name}")
        if len(files):
            table(files, f"{sample}_{name}", lineage=name, key=f"sample_files_{tech}", height=200)


# ------------------------------------------------------------------------------------------ lineage
def lineage_tables() -> list[str]:
    """Tables whose rows have a lineage: soc_profile (by profile_key) and every measurement table."""
    def ask(c):
        names = [n for n in c.names() if not n.startswith("current_")]
        cols = c.sql("SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'raw_sha256' "
                     "AND table_schema = 'main'")
        return sorted({"soc_profile"} | (set(names) & set(cols.table_name)))
    return api(ask)


def page_lineage() -> None:
    st.title("Lineage")
    st.caption("Where one row came from (socscope.open(...).lineage): raw file, where it was seen on the shares, "
               "reader@version, parameter set, flow run. Every table of the dashboard links its rows here.")
    params = st.query_params
    names = lineage_tables()
    given = params.get("table")
    c1, c2 = st.columns([2, 3])
    name = c1.selectbox("Table", names, index=names.index(given) if given in names else 0, key=f"lin_table_{given}")
    key = c2.text_input("Row key (measurement_id; profile_key for soc_profile)", value=params.get("key", ""),
                        key=f"lin_key_{given}_{params.get('key')}")
    if not key:
        return empty("give a row key, or follow a 'lineage ↗' link of any table")
    try:
        lin = api(lambda c: c.lineage(name, key))
    except (KeyError, ValueError) as exc:
        return empty(str(exc).strip("'\""))
    main_plot(lin)
    st.markdown(f"**{name}** · row `{key}` · {len(lin)} raw file{'s' if len(lin) != 1 else ''}")
    shown = lin.drop(columns=[c for c in ("params_json", "values_json") if c in lin.columns])
    # one column per raw file: the fields read top to bottom, in full
    st.table(shown.astype(str).T.set_axis([f"raw file {i + 1}" for i in range(len(shown))], axis=1))
    downloads(shown, f"lineage_{name}_{key}", key="lin_rows")
    for col in ("params_json", "values_json"):
        if col in lin.columns:
            for pid, vals in lin[["params_id", col]].drop_duplicates().itertuples(index=False):
                with st.expander(f"parameter set {pid}"):
                    st.json(json.loads(vals) if isinstance(vals, str) else {}, expanded=True)
    st.caption(f"warehouse `{ctx().root}`")
