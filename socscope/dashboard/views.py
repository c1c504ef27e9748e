"""The dashboard's campaign-wide pages and the navigation. Every number comes from plain SQL on the
read-only catalog (data.py). A technique's own pages come from its plugin (``Technique.pages``) and are
drawn with the kit (kit.py), so that nothing here names a technique's page.

Each page records what its main plot shows (points and a digest of them) so the footer can print
``page-ready · main plot: N points · digest D · rendered in T s · snapshot S · run R``: the browser test
reads it to know that the page finished, that the plot has data, and that a filter changed what is
shown. R counts the session's script runs: a rerun that shows the same plot in the same time (a click
on the correlation matrix) still changes the footer.
"""
from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.navigation.page import StreamlitPage

from foundation.registry import available_techniques, technique
from socscope import status as S
from socscope.dashboard import data as D
from socscope.dashboard.kit import (
    BRANCH_COLORS,
    BRANCH_SHAPES,
    KIT,
    SERIES_DASH,
    SOC_SCALE,
    Context,
    catalog,
    chart,
    ctx,
    downloads,
    empty,
    main_plot,
    q,
    snap,
)
from socscope.dashboard.kit import table as kit_table
from socscope.dashboard.operations_view import TITLE as OPERATIONS_TITLE
from socscope.dashboard.operations_view import (
    attention_line,
    page_operations,
    techniques_received,
)
from socscope.dashboard.sample_view import page_lineage, page_sample
from socscope.dashboard.warnings_view import ranked_pairs


# ---------------------------------------------------------------------------------- page frame
def sidebar(c: Context) -> None:
    s = D.newest_snapshot(c.root)
    with st.sidebar:
        st.caption(f"campaign **{c.campaign.name}** · warehouse snapshot {s.label}")
        st.caption(f"`{c.root}` (read-only)")
        if st.button("Reload newest data", key="reload"):
            st.rerun()


def run_page(nav, c: Context) -> None:
    st.session_state["_run"] = st.session_state.get("_run", 0) + 1
    st.session_state["_main"] = (0, "none")
    t0 = time.perf_counter()
    nav.run()
    n, digest = st.session_state["_main"]
    st.caption(f"page-ready · main plot: {n} points · digest {digest} · rendered in "
               f"{time.perf_counter() - t0:.2f} s · snapshot {snap().label} · run {st.session_state['_run']}")


# ---------------------------------------------------------------------------------------- campaign
def page_campaign() -> None:
    c = ctx()
    st.title("Campaign")
    st.caption("Per sample × technique: files expected by the campaign config, received on the shares, "
               "processed, quarantined and ignored (not data); complete only when processed ≥ expected. "
               "The same as `socscope status`.")
    m = S.status_table(c.campaign, q)
    rows = q(D.ROWS_SQL)
    # rows from files of a cell (cycler records) count for every sample cut from that cell
    cell_rows = q("""select s.sample_id, r.technique, sum(e.rows_written) as rows_written
                     from ingest_events e join raw_files r using (raw_sha256)
                     join sample_config s on s.cell_id = r.cell_id
                     where e.stage = 'process' and list_contains(?::VARCHAR[], r.technique)
                       and r.sample_id is distinct from s.sample_id
                     group by 1, 2""", [D.cell_file_techniques()])
    rows = pd.concat([rows, cell_rows]).groupby(["sample_id", "technique"], as_index=False)["rows_written"].sum()
    m = m.merge(rows, on=["sample_id", "technique"], how="left")
    m["rows_written"] = m["rows_written"].fillna(0).astype(int)
    techs = sorted(m.technique.unique())
    chosen = st.pills("Techniques", techs, selection_mode="multi", default=techs, key="campaign_tech")
    m = m[m.technique.isin(chosen)]
    if m.empty:
        return empty("no expected or received files for these techniques")
    m["label"] = m.apply(_cell_label, axis=1)
    state_scale = alt.Scale(domain=list(S.VERDICTS),
                            range=["#4c9f70", "#9ccfd8", "#d1495b", "#f2b134", "#8b1e3f", "#8e7dbe", "#9db4c0"])
    base = alt.Chart(m).encode(
        x=alt.X("technique:N", title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("sample_id:N", title=None, sort=[s.id for s in c.campaign.samples] + [D.REFERENCES]))
    counts = [col for col in ("expected", "received", "processed", "quarantined", "ignored", "warnings")
              if col in m.columns]
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color("verdict:N", scale=state_scale, title="verdict"),
        tooltip=["sample_id", "series", "technique", *counts, "rows_written", "verdict"])
    text = base.mark_text(fontSize=12).encode(text="label:N")
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("samples", len(c.campaign.samples))
    k2.metric("raw files", int(q("select count(*) as n from raw_files").n.iloc[0]))
    k3.metric("sample × technique not complete",
              int((~m.verdict.isin(["complete", "reference", "unexpected"])).sum()))
    qn = q("select count(*) as n from quarantine")
    k4.metric("quarantined files", int(qn.n.iloc[0]))
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Samples × techniques: processed / expected files")
        st.caption("(n q) quarantined, (n ign) ignored" + (", (n w) warnings" if "warnings" in m.columns else ""))
        chart((heat + text).properties(height=28 * m.sample_id.nunique() + 40))
        main_plot(m, "sample_id", "technique", "processed", "expected", "verdict")
    with right:
        files_table(m[["sample_id", "technique", *counts, "rows_written", "verdict"]])
    attention_line(chosen)


def files_table(files: pd.DataFrame) -> None:
    """The heatmap's counts as rows, drawn on request: a data grid costs the first page ~1.4 MB of the
    browser's scripts (issue 22: first page ≤ 2 s); the downloads are there either way."""
    st.subheader("Files per sample × technique")
    if st.toggle("Show as a table", key="campaign_table"):
        kit_table(files, "files_per_sample", height=420)
    else:
        st.caption(f"{len(files)} rows: the counts of the heatmap's cells (hover a cell for them)")
        downloads(files, "files_per_sample")


def _cell_label(r: pd.Series) -> str:
    """processed/expected, then what stands out: quarantined, ignored, warnings."""
    extra = [f"{r[col]} {short}" for col, short in (("quarantined", "q"), ("ignored", "ign"), ("warnings", "w"))
             if r.get(col)]
    return f"{r['processed']}/{r['expected']}" + (f" ({', '.join(extra)})" if extra else "")


# ------------------------------------------------------------------------------------- SOC profiles
def headline_features() -> list[str]:
    """The features the techniques declare as telling (``headline``), shown first."""
    from warehouse.marts.features import load_features

    return [d.key for d in load_features() if d.headline]


def page_soc_profiles() -> None:
    st.title("SOC profiles")
    st.caption("Every feature of every technique against SOC (soc_profile mart), in its own unit: one panel per "
               "feature on a shared SOC axis, the mean with its bootstrap 95 % interval as error bars; series by "
               "line dash, branch by marker, hollow markers = interpolated along SOC (no interval of their own).")
    feats = q(D.PROFILE_FEATURES_SQL)
    if feats.empty:
        return empty("soc_profile is empty: run the marts (`socscope run`)")
    keys = list(feats.key)
    c1, c2, c3 = st.columns([4, 2, 2])
    chosen = c1.multiselect("Features (technique:mode:feature)", keys,
                            default=[k for k in headline_features() if k in keys] or keys[:3], key="prof_features")
    series = sorted(q("select distinct series from soc_profile where series is not null").series)
    ser = c2.pills("Series", series, selection_mode="multi", default=series, key="prof_series")
    show_interp = c3.checkbox("include interpolated points", value=False, key="prof_interp")
    if not chosen:
        return empty("choose at least one feature")
    df = q(D.PROFILE_SQL, [list(chosen)])
    df = df[df.series.isin(ser)]
    if not show_interp:
        df = df[~df.interpolated]
    if df.empty:
        return empty("no values for this choice")
    df["branch"] = df["branch"].fillna("cycle")
    # width "content": stretched, Streamlit would widen every panel past the page
    st.altair_chart(alt.vconcat(*[_profile_panel(g, k) for k, g in df.groupby("key", sort=False)])
                    .resolve_scale(x="shared", color="shared", shape="shared", strokeDash="shared"), width="content")
    main_plot(df, "key", "sample_id", "soc_pct", "mean", "ci_low", "ci_high")
    st.markdown("**Values** (each row links to its raw files, reader, parameters and flow run)")
    kit_table(df, "soc_profile", lineage="soc_profile", key="prof_values")


PANEL_WIDTH = 660  # vconcat panels do not stretch to the container: fits a laptop screen beside the sidebar


def _profile_panel(g: pd.DataFrame, key: str) -> alt.LayerChart:
    """One feature against SOC: its unit on the y axis, the bootstrap interval as error bars."""
    unit = ", ".join(sorted(set(g.unit.dropna()))) or "1"
    tooltip = ["key", "sample_id", "series", "branch", alt.Tooltip("soc_pct:Q", format=".1f"),
               alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("ci_low:Q", format=".4g"),
               alt.Tooltip("ci_high:Q", format=".4g"), "n", "unit", "interpolated", "source_samples"]
    base = alt.Chart(g).encode(x=alt.X("soc_pct:Q", title="SOC (%)", scale=alt.Scale(domain=[-5, 105])))
    title = f"{key.split(':')[-1]} ({unit})"
    y = alt.Y("mean:Q", title=title, scale=alt.Scale(zero=False), axis=alt.Axis(format=".3~g"))
    line = base.mark_line(opacity=0.5, color="#555").encode(
        y=y, strokeDash=alt.StrokeDash("series:N", scale=SERIES_DASH), detail="branch:N", order="soc_pct:Q")
    err = base.mark_errorbar(ticks=True, color="#333").encode(y=alt.Y("ci_low:Q", title=title), y2="ci_high:Q")
    pts = base.mark_point(size=70, filled=True).encode(
        y=y, shape=alt.Shape("branch:N", scale=BRANCH_SHAPES), color=alt.Color("branch:N", scale=BRANCH_COLORS),
        fillOpacity=alt.condition("datum.interpolated", alt.value(0), alt.value(1)), tooltip=tooltip)
    return alt.layer(line, err, pts).properties(height=190, width=PANEL_WIDTH, title=key)


# -------------------------------------------------------------------------------------- correlations
def page_correlations() -> None:
    st.title("Correlations")
    st.caption("Pearson r of every feature pair across samples (correlations mart). Click a cell (or pick it "
               "below) to see the scatter with each point's sample, then trace a point to its raw files.")
    corr = q("""select feature_x, feature_y, series, branch, n, pearson_r, spearman_rho, ci_low, ci_high,
                       n_interpolated, n_measured_x, n_measured_y, trivial, ranked, samples from correlations""")
    if corr.empty:
        return empty("the correlations mart is empty: run the marts")
    c1, c2, c3 = st.columns([2, 2, 3])
    series_opts = [s for s in ["cumulative", "polished", "all"] if s in set(corr.series)]
    series = c1.radio("Series", series_opts, horizontal=True, key="corr_series")
    branch_opts = [b for b in ["charge", "discharge", "pooled"] if b in set(corr.branch)]
    branch = c2.radio("Branch", branch_opts, horizontal=True, key="corr_branch")
    techs = sorted({f.split(":")[0] for f in pd.concat([corr.feature_x, corr.feature_y]) if ":" in f})
    tech = c3.pills("Techniques", techs, selection_mode="multi", default=techs, key="corr_tech")
    sub = corr[(corr.series == series) & (corr.branch == branch)]

    def keep(f: str) -> bool:
        return f == "soc_pct" or f.split(":")[0] in tech

    sub = sub[sub.feature_x.map(keep) & sub.feature_y.map(keep)]
    if sub.empty:
        return empty("no correlation for this choice")
    sym = pd.concat([sub, sub.rename(columns={"feature_x": "feature_y", "feature_y": "feature_x"})])
    order = ["soc_pct"] + sorted(set(sym.feature_x) - {"soc_pct"})
    sel = alt.selection_point(name="cell", fields=["feature_x", "feature_y"], on="click")
    heat = alt.Chart(sym).mark_rect().encode(
        x=alt.X("feature_x:N", sort=order, title=None,
                axis=alt.Axis(labelAngle=-60, labelLimit=260, labelOverlap=False, labelFontSize=10)),
        y=alt.Y("feature_y:N", sort=order, title=None,
                axis=alt.Axis(labelLimit=260, labelOverlap=False, labelFontSize=10)),
        color=alt.Color("pearson_r:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1]), title="Pearson r"),
        opacity=alt.condition(sel, alt.value(1), alt.value(0.55)),
        tooltip=["feature_x", "feature_y", alt.Tooltip("pearson_r:Q", format=".3f"),
                 alt.Tooltip("spearman_rho:Q", format=".3f"), "n", "n_measured_x", "n_measured_y", "ranked", "samples"]
    ).add_params(sel).properties(height=alt.Step(16))
    event = st.altair_chart(heat, width="stretch", on_select="rerun", selection_mode="cell",
                            key=f"corr_heat_{series}_{branch}_{len(tech)}")
    main_plot(sym, "feature_x", "feature_y", "pearson_r")
    picked = None
    try:
        cells = event.selection.get("cell", []) if event else []
        if cells:
            picked = (cells[0]["feature_x"], cells[0]["feature_y"])
    except Exception:  # noqa: BLE001 - an unexpected selection payload falls back to the pickers
        picked = None
    ranked_pairs(sub)
    pairs = sub.assign(_i=~sub.ranked.astype(bool), _r=-sub.pearson_r.abs()).sort_values(["_i", "_r"])
    pair_labels = [f"{r.feature_x}  ×  {r.feature_y}{'' if r.ranked else '  (not ranked)'}" for r in pairs.itertuples()]
    default = 0
    if picked:
        for i, r in enumerate(pairs.itertuples()):
            if {r.feature_x, r.feature_y} == set(picked):
                default = i
    label = st.selectbox("Cell (feature pair; ranked ones first, strongest first)", pair_labels, index=default,
                         key=f"corr_pair_{series}_{branch}_{picked}")
    row = pairs.iloc[pair_labels.index(label)]
    fx, fy = row.feature_x, row.feature_y
    samples = row.samples.split(",")
    xv = D.feature_values(catalog(), fx, samples, snap())
    yv = D.feature_values(catalog(), fy, samples, snap())
    pts = xv.merge(yv[["sample_id", "value", "interpolated", "profile_key"]], on="sample_id", suffixes=("_x", "_y"))
    left, right = st.columns([1, 1])
    with left:
        st.markdown(f"**{fy}** vs **{fx}** · {series}, {branch} · r = {row.pearson_r:.3f}, "
                    f"ρ = {row.spearman_rho:.3f} [{row.ci_low:.2f}, {row.ci_high:.2f}], n = {row.n} "
                    f"({row.n_measured_x} / {row.n_measured_y} measured)"
                    + ("" if row.ranked else f" · not ranked: {row.trivial or 'too few measured points'}"))
        base = alt.Chart(pts).encode(x=alt.X("value_x:Q", title=fx, scale=alt.Scale(zero=False, padding=25)),
                                     y=alt.Y("value_y:Q", title=fy, scale=alt.Scale(zero=False, padding=25)))
        chart(alt.layer(
            base.mark_point(size=90, filled=True).encode(
                color=alt.Color("soc_pct:Q", scale=SOC_SCALE, title="SOC (%)"),
                shape=alt.Shape("branch:N", scale=BRANCH_SHAPES),
                tooltip=["sample_id", "series", "branch", "soc_pct", "value_x", "value_y", "interpolated_x",
                         "interpolated_y"]),
            base.mark_text(dx=8, dy=-8, align="left").encode(text="sample_id:N")).properties(height=360))
    with right:
        st.markdown("**Lineage of a point** (raw files, reader, parameter set behind its value)")
        point = st.selectbox("Sample", list(pts.sample_id), key=f"corr_point_{fx}_{fy}")
        p = pts[pts.sample_id == point].iloc[0]
        keys = [k for k in (p.get("profile_key_x"), p.get("profile_key_y")) if isinstance(k, str)]
        lin = q(D.LINEAGE_SQL, [list(keys)]) if keys else pd.DataFrame()
        if lin.empty:
            st.caption("SOC comes from the samples table (cycler file of the cell)")
        else:
            lin["feature"] = lin.profile_key.map({p.get("profile_key_x"): fx, p.get("profile_key_y"): fy})
            kit_table(lin[["feature", "original_name", "technique", "reader", "params_id", "raw_sha256",
                           "n_observations", "flow_run_id", "store_path", "profile_key"]], f"lineage_{point}",
                      lineage="soc_profile", key="corr_lineage")
            with st.expander("parameter sets"):
                for pid, vals in lin[["params_id", "values_json"]].drop_duplicates().itertuples(index=False):
                    st.markdown(f"`{pid}`")
                    st.json(json.loads(vals) if isinstance(vals, str) else {}, expanded=False)
        if bool(p.interpolated_x) or bool(p.interpolated_y):
            st.caption("an interpolated value: its raw files are those of the samples it was interpolated from")


# ------------------------------------------------------------------------------ findings and quality
def page_findings() -> None:
    st.title("Findings and data quality")
    st.caption("The study's claims checked on the warehouse (findings mart), validation results and the "
               "quarantine.")
    f = q("""select claim, check_name, title, verdict, statistic, statistic_name, expected, why, evidence, query
             from findings order by claim, check_name""")
    if f.empty:
        return empty("the findings mart is empty: run the marts")
    c1, c2 = st.columns([2, 3])
    verdict = c1.radio("Verdict", ["all", "pass", "fail"], horizontal=True, key="find_verdict")
    claims = sorted(f.claim.unique())
    chosen = c2.pills("Claims", claims, selection_mode="multi", default=claims, key="find_claims")
    v = f[f.claim.isin(chosen)]
    if verdict != "all":
        v = v[v.verdict == verdict]
    k1, k2, k3 = st.columns(3)
    k1.metric("checks", len(f))
    k2.metric("pass", int((f.verdict == "pass").sum()))
    k3.metric("fail", int((f.verdict == "fail").sum()))
    if v.empty:
        st.info("no check for this choice")
        st.session_state["_main"] = (0, "empty")
    else:
        counts = v.groupby(["claim", "verdict"], as_index=False).size()
        chart(alt.Chart(counts).mark_bar().encode(
            x=alt.X("claim:O", title="claim (SCIENCE.md numbering)"), y=alt.Y("size:Q", title="checks"),
            color=alt.Color("verdict:N", scale=alt.Scale(domain=["pass", "fail"], range=["#4c9f70", "#d1495b"])),
            tooltip=["claim", "verdict", "size"]).properties(height=200))
        main_plot(v, "claim", "check_name", "verdict")
        kit_table(v[["claim", "check_name", "verdict", "statistic", "expected", "why"]], "findings")
        with st.expander("evidence of a check (rows with their raw-file lineage)"):
            name = st.selectbox("Check", list(v.check_name), key="find_check")
            r = v[v.check_name == name].iloc[0]
            try:
                ev = pd.json_normalize(json.loads(r.evidence))
                kit_table(ev.astype(str), f"evidence_{name}", key="find_evidence")
            except Exception:  # noqa: BLE001
                st.code(str(r.evidence)[:5000])
            st.code(r.query or "", language="sql")
    report = Path(ctx().root) / "reports" / "findings.html"
    with st.expander("findings report (HTML)"):
        if report.exists():
            st.iframe(report, height=600)
        else:
            st.caption(f"no report at {report}")
    st.subheader("Validation results")
    checks = []
    quality = q("""select technique, check_name, count(*) as n, sum(case when passed then 0 else 1 end) as failed
                   from quality group by all order by all""")
    for r in quality.itertuples():
        checks.append({"check": f"{r.technique}: {r.check_name}", "subjects": r.n, "failed": r.failed})
    ev = q("""select count(*) as n, sum(case when status = 'ok' then 0 else 1 end) as failed from
              (select * from ingest_events where stage = 'process'
               qualify row_number() over (partition by raw_sha256 order by attempted_at desc) = 1)""")
    checks.append({"check": "all: files read and validated (latest attempt ok)", "subjects": int(ev.n.iloc[0]),
                   "failed": int(ev.failed.fillna(0).iloc[0])})
    kit_table(pd.DataFrame(checks), "validation_results")
    flags = q("""select technique, check_name, subject, detail from quality where not passed
                 order by technique, check_name, subject""")
    if len(flags):
        with st.expander(f"{len(flags)} measurements that failed a quality check"):
            kit_table(flags, "failed_quality_checks")
    st.subheader("Quarantine")
    attention_line(techniques_received())  # the files themselves: on the operations page


#: (slug, title, draw) of the campaign-wide pages around the techniques' own
LEADING_PAGES = [("campaign", "Campaign", page_campaign), ("soc_profiles", "SOC profiles", page_soc_profiles),
                 ("sample", "Sample", page_sample)]
TRAILING_PAGES = [("correlations", "Correlations", page_correlations), ("findings", "Findings & quality", page_findings),
                  ("operations", OPERATIONS_TITLE, page_operations),
                  ("lineage", "Lineage", page_lineage)]


def technique_pages() -> list[tuple[str, str, Callable[[], None]]]:
    """(slug, title, draw) of every registered technique's pages, ordered by title (as the navigation
    always listed them), each drawn with the kit."""
    owned = [(name, page) for name in available_techniques() for page in technique(name).pages]
    owners: dict[str, list[str]] = {slug: ["the dashboard"] for slug, _, _ in LEADING_PAGES + TRAILING_PAGES}
    for name, page in owned:
        owners.setdefault(page.slug, []).append(f"technique {name!r}")
    clashes = {slug: who for slug, who in owners.items() if len(who) > 1}
    if clashes:
        raise RuntimeError(f"dashboard page slugs declared twice: {clashes}; give each page its own Page.slug "
                           "(it is the page's URL path)")
    return [(page.slug, page.title, functools.partial(page.render, KIT))
            for _, page in sorted(owned, key=lambda owned_page: owned_page[1].title.lower())]


def all_pages() -> list[tuple[str, str, Callable[[], None]]]:
    """Every page in navigation order: campaign-wide, then the techniques', then the cross-technique ones."""
    return LEADING_PAGES + technique_pages() + TRAILING_PAGES


def streamlit_pages() -> list[StreamlitPage]:
    """``all_pages`` as Streamlit pages: each at its slug's URL, the campaign page the default."""
    # no page icons: Streamlit would fetch each as a favicon from fonts.gstatic.com (offline here)
    return [st.Page(draw, title=title, url_path=slug, default=(slug == "campaign")) for slug, title, draw in all_pages()]
