"""The dashboard's pages. Every number comes from plain SQL on the read-only catalog (data.py).

Each page records what its main plot shows (points and a digest of them) so the footer can print
``page-ready · main plot: N points · digest D · rendered in T s · snapshot S · run R``: the browser test
reads it to know that the page finished, that the plot has data, and that a filter changed what is
shown. R counts the session's script runs: a rerun that shows the same plot in the same time (a click
on the correlation matrix) still changes the footer.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

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
CHANNELS = {  # label: (pixel column, histogram short name, unit suffix, unit)
    "ESM amplitude": ("esm_amp_pm_per_v", "esm", "pm_per_v", "pm/V"),
    "topography": ("height_nm", "height", "nm", "nm"),
    "CRF": ("crf_khz", "crf", "khz", "kHz"),
    "current": ("current_pa", "current", "pa", "pA"),
    "phase": ("phase_deg", None, None, "deg"),
}
#: how many pixels of a map hold each channel (column names from CHANNELS, quoted by D.ident)
CHANNEL_COUNTS_SQL = ("select " + ", ".join(f"count({D.ident(col)}) as \"{lab}\"" for lab, (col, *_r) in CHANNELS.items())
                      + " from afm_pixels where measurement_id = ?")


# --------------------------------------------------------------------------------------- plumbing
@dataclass
class Context:
    config: str
    campaign: Any
    root: str


@st.cache_resource(show_spinner=False)
def _catalog(root: str) -> D.Catalog:
    return D.Catalog(root)


@st.cache_resource(show_spinner=False)
def _load_campaign(config: str, mtime: float):
    from foundation.config import load_campaign

    return load_campaign(config)


def context(config: str) -> Context:
    path = Path(config).resolve()
    campaign = _load_campaign(str(path), path.stat().st_mtime)
    root = campaign.resolve(campaign.storage.warehouse)
    D.newest_snapshot(root)  # raises a clear FileNotFoundError before any page runs
    st.session_state["_ctx"] = Context(str(path), campaign, root)
    return st.session_state["_ctx"]


def ctx() -> Context:
    return st.session_state["_ctx"]


def snap() -> D.Snapshot:
    """The snapshot of this page run (fixed at the start, so one page is one consistent view)."""
    if "_snap" not in st.session_state or st.session_state.get("_snap_run") != st.session_state.get("_run"):
        st.session_state["_snap"] = D.newest_snapshot(ctx().root)
        st.session_state["_snap_run"] = st.session_state.get("_run")
    return st.session_state["_snap"]


@st.cache_data(max_entries=512, show_spinner=False)
def _query(root: str, snap_path: str, version: int, sql: str, params: tuple) -> pd.DataFrame:
    return _catalog(root).query(sql, params, snap=D.Snapshot(snap_path, version))


def q(sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    s = snap()
    return _query(ctx().root, s.path, s.version, sql, tuple(params)).copy()


def main_plot(df: pd.DataFrame, *cols: str) -> None:
    """Remember what the page's main plot shows (for the footer the browser test reads)."""
    shown = df[list(cols)] if cols else df
    digest = hashlib.sha256(pd.util.hash_pandas_object(shown.astype(str), index=False).values.tobytes()).hexdigest()
    st.session_state["_main"] = (len(df), digest[:10])


def chart(c: alt.Chart | alt.LayerChart, **kw):
    return st.altair_chart(c, width="stretch", **kw)


def empty(msg: str) -> None:
    st.info(msg)
    st.session_state["_main"] = (0, "empty")


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
    st.caption("Files expected by the campaign config against files received in the raw store, "
               "rows written, quarantined files and the latest runs.")
    received = q(D.RECEIVED_SQL)
    m = D.expected_vs_received(c.campaign, received)
    rows = q(D.ROWS_SQL)
    echem_rows = q("""select s.sample_id, 'echem' as technique, sum(e.rows_written) as rows_written
                      from ingest_events e join raw_files r using (raw_sha256)
                      join sample_config s on s.cell_id = r.cell_id
                      where e.stage = 'process' and r.technique = 'echem' and r.sample_id is distinct from s.sample_id
                      group by 1""")
    rows = pd.concat([rows, echem_rows]).groupby(["sample_id", "technique"], as_index=False)["rows_written"].sum()
    m = m.merge(rows, on=["sample_id", "technique"], how="left")
    m["rows_written"] = m["rows_written"].fillna(0).astype(int)
    techs = sorted(m.technique.unique())
    chosen = st.pills("Techniques", techs, selection_mode="multi", default=techs, key="campaign_tech")
    m = m[m.technique.isin(chosen)]
    if m.empty:
        return empty("no expected or received files for these techniques")
    qcount = q("""select coalesce(sample_id, '(references)') as sample_id, technique, count(*) as quarantined
                  from quarantine group by 1, 2""")
    m = m.merge(qcount, on=["sample_id", "technique"], how="left")
    m["quarantined"] = m["quarantined"].fillna(0).astype(int)
    m["label"] = (m["received"].astype(str) + "/" + m["expected"].astype(str)
                  + m["quarantined"].map(lambda n: f" ({n} q)" if n else ""))
    state_scale = alt.Scale(domain=["complete", "partial", "missing", "unexpected", "reference"],
                            range=["#4c9f70", "#f2b134", "#d1495b", "#8e7dbe", "#9db4c0"])
    base = alt.Chart(m).encode(
        x=alt.X("technique:N", title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("sample_id:N", title=None, sort=[s.id for s in c.campaign.samples] + [D.REFERENCES]))
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color("state:N", scale=state_scale, title="files"),
        tooltip=["sample_id", "series", "technique", "expected", "received", "quarantined", "rows_written", "state"])
    text = base.mark_text(fontSize=12).encode(text="label:N")
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("samples", len(c.campaign.samples))
    k2.metric("raw files", int(q("select count(*) as n from raw_files").n.iloc[0]))
    k3.metric("sample × technique short of files", int((m.state.isin(["missing", "partial"])).sum()))
    qn = q("select count(*) as n from quarantine")
    k4.metric("quarantined files", int(qn.n.iloc[0]))
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Samples × techniques: received / expected files")
        st.caption("received counts every distinct raw file; (n q) = of which quarantined")
        chart((heat + text).properties(height=28 * m.sample_id.nunique() + 40))
        main_plot(m, "sample_id", "technique", "received", "expected")
    with right:
        st.subheader("Rows written")
        st.dataframe(m[["sample_id", "technique", "expected", "received", "quarantined", "rows_written", "state"]],
                     hide_index=True, height=420)
    st.subheader("Quarantine")
    quarantine = q("""select technique, sample_id, original_name, stage, status, reason, error_type, reader,
                             attempted_at from quarantine order by attempted_at desc""")
    quarantine = quarantine[quarantine.technique.isin(chosen) | quarantine.technique.isna()]
    if quarantine.empty:
        st.success("no file quarantined")
    else:  # a plain table: reasons are long sentences and must be readable in full
        st.table(quarantine.head(200).set_index("original_name"))
    st.subheader("Last runs")
    runs = q("select * from flow_runs order by finished_at desc limit 10")
    if len(runs):
        st.dataframe(runs.drop(columns=["detail_json"], errors="ignore"), hide_index=True)
    st.dataframe(q(D.LAST_RUN_SQL), hide_index=True)


# ------------------------------------------------------------------------------------- SOC profiles
DEFAULT_FEATURES = ["afm:ESM:esm_particles_mean", "afm:CAFM:current_all_mean", "nexafs:TEY:ni2_fraction",
                    "nexafs:FY:ni2_fraction", "sxpd::a", "echem:GITT:d"]


def page_soc_profiles() -> None:
    st.title("SOC profiles")
    st.caption("Every feature of every technique against SOC (soc_profile mart): mean with its bootstrap 95 % "
               "interval; series by line dash, branch by marker, hollow markers = interpolated along SOC.")
    feats = q(D.PROFILE_FEATURES_SQL)
    if feats.empty:
        return empty("soc_profile is empty: run the marts (`socscope run`)")
    keys = list(feats.key)
    c1, c2, c3 = st.columns([4, 2, 2])
    chosen = c1.multiselect("Features (technique:mode:feature)", keys,
                            default=[k for k in DEFAULT_FEATURES if k in keys] or keys[:3], key="prof_features")
    series = sorted(q("select distinct series from soc_profile where series is not null").series)
    ser = c2.pills("Series", series, selection_mode="multi", default=series, key="prof_series")
    scale = c3.radio("Axis", ["one axis (min–max scaled)", "one panel per feature"], key="prof_scale")
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
    df["marker"] = df["interpolated"].map({True: "interpolated", False: "measured"})
    tooltip = ["key", "sample_id", "series", "branch", alt.Tooltip("soc_pct:Q", format=".1f"),
               alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("ci_low:Q", format=".4g"),
               alt.Tooltip("ci_high:Q", format=".4g"), "n", "unit", "interpolated", "source_samples"]
    if scale.startswith("one axis"):
        df = D.normalise_profile(df)
        y, lo, hi, ytitle = "value", "lo", "hi", "scaled mean (0 = feature min, 1 = max)"
    else:
        y, lo, hi, ytitle = "mean", "ci_low", "ci_high", None
    base = alt.Chart(df).encode(x=alt.X("soc_pct:Q", title="SOC (%)", scale=alt.Scale(domain=[-5, 105])),
                                color=alt.Color("key:N", title="feature"))
    line = base.mark_line(opacity=0.6).encode(
        y=alt.Y(f"{y}:Q", title=ytitle), strokeDash=alt.StrokeDash("series:N", scale=SERIES_DASH),
        detail="branch:N", order="soc_pct:Q")
    err = base.mark_rule().encode(y=f"{lo}:Q", y2=f"{hi}:Q", detail="branch:N")
    pts = base.mark_point(size=70, filled=True).encode(
        y=f"{y}:Q", shape=alt.Shape("branch:N", scale=BRANCH_SHAPES),
        fillOpacity=alt.condition("datum.interpolated", alt.value(0), alt.value(1)), tooltip=tooltip)
    layer = alt.layer(line, err, pts)
    if scale.startswith("one axis"):
        chart(layer.properties(height=480))
    else:
        chart(layer.properties(height=220).facet(row=alt.Row("key:N", title=None), columns=1)
              .resolve_scale(y="independent"))
    main_plot(df, "key", "sample_id", "soc_pct", "mean")
    with st.expander("values"):
        st.dataframe(df.drop(columns=["profile_key"], errors="ignore"), hide_index=True)


# ------------------------------------------------------------------------------------------ AFM maps
def page_afm_maps() -> None:
    st.title("AFM maps")
    st.caption("Maps of one sample with particle outlines (downsampled in SQL), histograms per SOC on common "
               "bins, a particle's rim-to-core profile and a line profile across the map.")
    maps = q("""select m.measurement_id, m.sample_id, m.mode, m.original_name, m.location_tag, m.scan_size_x_um,
                       m.scan_size_y_um, m.n_x_px, m.pixel_size_um, m.n_particles, s.series, s.soc_pct, s.branch
                from afm_maps m left join samples s using (sample_id) order by s.series, s.soc_pct, m.sample_id,
                m.mode desc, m.original_name""")
    if maps.empty:
        return empty("no AFM maps in the warehouse")
    samples = list(dict.fromkeys(maps.sample_id))
    c1, c2, c3 = st.columns([2, 3, 2])
    default_sample = "P-DC0" if "P-DC0" in samples else samples[0]
    sample = c1.selectbox("Sample", samples, index=samples.index(default_sample), key="afm_sample")
    mm = maps[maps.sample_id == sample]
    labels = {r.measurement_id: f"{r.mode} · {r.original_name}" for r in mm.itertuples()}
    mid = c2.selectbox("Map", list(labels), format_func=labels.get, key=f"afm_map_{sample}")
    info = mm[mm.measurement_id == mid].iloc[0]
    have = q(CHANNEL_COUNTS_SQL, [mid]).iloc[0]
    channels = [lab for lab in CHANNELS if have[lab] > 0]
    default_ch = "ESM amplitude" if "ESM amplitude" in channels else channels[0]
    channel = c3.radio("Channel", channels, index=channels.index(default_ch), key=f"afm_channel_{mid}",
                       horizontal=True)
    col, _, _, unit = CHANNELS[channel]
    step = D.grid_step(int(info.n_x_px), 64)
    grid = q(D.map_sql(col, step), [mid])
    dx = float(info.pixel_size_um) * step
    half = dx * 0.52  # a little overlap: no anti-aliasing seams between blocks
    grid["x0"], grid["x1"] = grid.x_um - half, grid.x_um + half
    grid["y0"], grid["y1"] = grid.y_um - half, grid.y_um + half
    outline = q(D.OUTLINE_SQL, [mid, float(info.pixel_size_um) * 1.01])
    parts = q("""select particle_id, area_um2, equivalent_diameter_um, centroid_x_um, centroid_y_um, touches_edge,
                        esm_rim_core_ratio, current_rim_core_ratio, crf_rim_core_ratio
                 from afm_particles where measurement_id = ? order by area_um2 desc""", [mid])
    size = float(info.scan_size_x_um)
    # line profile: default through the largest particle, horizontally
    if len(parts):
        yc = float(parts.centroid_y_um.iloc[0])
    else:
        yc = size / 2
    left, right = st.columns([3, 2])
    with right:
        st.markdown("**Line profile** (drag the ends)")
        x0, x1 = st.slider("x from → to (µm)", 0.0, size, (0.0, size), step=size / 100, key=f"lp_x_{mid}")
        y0, y1 = st.slider("y from → to (µm)", 0.0, size, (round(yc, 2), round(yc, 2)), step=size / 100,
                           key=f"lp_y_{mid}")
    seg = pd.DataFrame({"x_um": [x0, x1], "y_um": [y0, y1]})
    xs = alt.Scale(domain=[0, size], nice=False)
    ys = alt.Scale(domain=[0, size], nice=False)
    heat = alt.Chart(grid).mark_rect().encode(
        x=alt.X("x0:Q", scale=xs, title="x (µm)"), x2="x1:Q",
        y=alt.Y("y0:Q", scale=ys, title="y (µm)"), y2="y1:Q",
        color=alt.Color("value:Q", title=unit, scale=alt.Scale(scheme="inferno" if col != "height_nm" else "greys")),
        tooltip=[alt.Tooltip("x_um:Q", format=".2f"), alt.Tooltip("y_um:Q", format=".2f"),
                 alt.Tooltip("value:Q", format=".3g"), "particle_id"])
    out = alt.Chart(outline).mark_square(size=3, color="#00e5ff", opacity=0.9).encode(x="x_um:Q", y="y_um:Q")
    line = alt.Chart(seg).mark_line(color="white", strokeWidth=2, point=True).encode(x="x_um:Q", y="y_um:Q")
    with left:
        st.markdown(f"**{channel}** of {sample} · {labels[mid]} · {int(info.n_particles)} particles "
                    f"(outlines in cyan) · {step}×{step} px blocks")
        chart(alt.layer(heat, out, line).properties(height=460))
    main_plot(grid, "value")
    with right:
        prof = q(D.line_profile_sql(col), [x0, y0, x1, y1, float(info.pixel_size_um) * 2, mid])
        if len(prof):
            pb = alt.Chart(prof).encode(
                x=alt.X("distance_um:Q", title="distance along the line (µm)"),
                y=alt.Y("value:Q", title=f"{channel} ({unit})", scale=alt.Scale(zero=False)))
            chart(alt.layer(pb.mark_line(color="#999"), pb.mark_circle(size=30).encode(
                color=alt.Color("region:N", scale=alt.Scale(domain=["matrix", "rim", "core"],
                                                            range=["#7f7f7f", "#00a6c8", "#d1495b"])),
                tooltip=["distance_um", "value", "n_px", "region"])).properties(height=220))
        else:
            st.info("the line is too short")
    if st.toggle("All channels of this location side by side (ESM map and its C-AFM partner)", value=False,
                 key="afm_all_channels"):
        _all_channels(maps, info)
    st.subheader("Particle: radial profile from rim to core")
    if parts.empty:
        st.info("no particle found in this map")
    else:
        pc1, pc2 = st.columns([2, 3])
        pid = pc1.selectbox("Particle", list(parts.particle_id), key=f"afm_particle_{mid}",
                            format_func=lambda p: f"#{p} · {parts.set_index('particle_id').area_um2[p]:.1f} µm²")
        pc1.dataframe(parts[parts.particle_id == pid].T, height=330)
        value = D.ident(f"{CHANNELS[channel][1] or 'esm'}_mean_{CHANNELS[channel][2] or 'pm_per_v'}")
        rp = q(f"""select bin_index, dist_lo_um, dist_hi_um, (dist_lo_um + dist_hi_um) / 2 as dist_um, n_px,
                          {value} as value
                   from afm_profiles where measurement_id = ? and particle_id = ? order by bin_index""", [mid, pid]) \
            if CHANNELS[channel][1] else pd.DataFrame()
        with pc2:
            if rp.empty or rp.value.isna().all():
                st.info(f"no radial profile of {channel} for this particle")
            else:
                chart(alt.Chart(rp).mark_line(point=True).encode(
                    x=alt.X("dist_um:Q", title="distance from the particle boundary (µm): rim → core"),
                    y=alt.Y("value:Q", title=f"{channel} ({unit})", scale=alt.Scale(zero=False)),
                    tooltip=["dist_lo_um", "dist_hi_um", "n_px", "value"]).properties(height=300))
    st.subheader("Histograms per SOC (common bins)")
    h1, h2, h3 = st.columns(3)
    hist_channels = [k for k, v in CHANNELS.items() if v[1]]
    hch = h1.selectbox("Histogram channel", hist_channels, index=0, key="hist_channel")
    region = h2.radio("Region", ["particles", "all", "matrix"], horizontal=True, key="hist_region")
    series_opts = ["polished", "cumulative"]
    hseries = h3.radio("Series", series_opts, horizontal=True, key=f"hist_series_{info.series}",
                       index=series_opts.index(info.series) if info.series in series_opts else 0)
    _, short, usuf, hunit = CHANNELS[hch]
    hist = q(D.hist_sql(short, usuf), [region])
    hist = hist[(hist.series == hseries) & (hist["count"] > 0)]
    if hist.empty:
        st.info("no histogram for this choice")
    else:
        hist["label"] = hist.sample_id + " (" + hist.soc_pct.round(0).astype(int).astype(str) + " %, " + hist.branch + ")"
        hist["x"] = (hist.bin_lo + hist.bin_hi) / 2
        chart(alt.Chart(hist).mark_line(interpolate="step-after").encode(
            x=alt.X("x:Q", title=f"{hch} ({hunit})"), y=alt.Y("density:Q", title=f"density (1/{hunit})"),
            color=alt.Color("soc_pct:Q", scale=SOC_SCALE, title="SOC (%)"),
            strokeDash=alt.StrokeDash("branch:N"), detail="label:N",
            tooltip=["label", "bin_lo", "bin_hi", "count", alt.Tooltip("density:Q", format=".3g")])
              .properties(height=300))


def _all_channels(maps: pd.DataFrame, info) -> None:
    """Small maps of every channel of the maps taken at the same location of the sample."""
    same = maps[(maps.sample_id == info.sample_id) & (maps.location_tag == info.location_tag)]
    panels = []
    for r in same.itertuples():
        have = q(CHANNEL_COUNTS_SQL, [r.measurement_id]).iloc[0]
        for lab, (col, *_r, unit) in CHANNELS.items():
            if have[lab] > 0 and lab != "phase" and not (r.mode == "CAFM" and lab == "topography"):
                panels.append((r, lab, col, unit))
    cols = st.columns(max(1, min(4, len(panels))))
    for i, (r, lab, col, unit) in enumerate(panels):
        step = D.grid_step(int(r.n_x_px), 48)
        g = q(D.map_sql(col, step), [r.measurement_id])
        half = float(r.pixel_size_um) * step * 0.52
        g["x0"], g["x1"], g["y0"], g["y1"] = g.x_um - half, g.x_um + half, g.y_um - half, g.y_um + half
        size = float(r.scan_size_x_um)
        sc = alt.Scale(domain=[0, size], nice=False)
        with cols[i % len(cols)]:
            st.caption(f"{lab} ({unit}) · {r.mode} · {r.original_name}")
            chart(alt.Chart(g).mark_rect().encode(
                x=alt.X("x0:Q", scale=sc, title=None), x2="x1:Q", y=alt.Y("y0:Q", scale=sc, title=None), y2="y1:Q",
                color=alt.Color("value:Q", title=unit, legend=alt.Legend(orient="right", gradientLength=110, title=None),
                                scale=alt.Scale(scheme="greys" if col == "height_nm" else "inferno")))
                  .properties(height=210))


# --------------------------------------------------------------------------------------- diffraction
SXPD_QUANTITIES = {"a (Å)": "a_angstrom", "c (Å)": "c_angstrom", "volume (Å³)": "volume_a3",
                   "c/a": "c_over_a", "microstrain 00l (%)": "microstrain_00l_pct",
                   "microstrain hk0 (%)": "microstrain_hk0_pct", "microstrain (%)": "microstrain_pct"}


def page_diffraction() -> None:
    st.title("Diffraction (operando SXPD)")
    st.caption("Lattice parameters and microstrain of every pattern, aligned with the cycler: against time with "
               "the voltage curve, and against SOC per branch (Figure 5).")
    pats = q("""select sample_id, measurement_id, scan_number, measured_at, elapsed_s, voltage_v, soc_pct, branch,
                       cell_id, a_angstrom, a_sigma_angstrom, c_angstrom, c_sigma_angstrom, volume_a3, c_over_a,
                       microstrain_pct, microstrain_00l_pct, microstrain_hk0_pct, alignment_flag, quality_flags
                from sxpd_patterns_soc where sample_id is not null order by measured_at""")
    if pats.empty:
        return empty("no SXPD patterns in the warehouse")
    c1, c2, c3 = st.columns([3, 2, 2])
    chosen = c1.multiselect("Quantities", list(SXPD_QUANTITIES), default=["a (Å)", "c (Å)", "volume (Å³)",
                                                                        "microstrain 00l (%)"], key="sxpd_q")
    branches = [b for b in ["charge", "discharge", "rest"] if b in set(pats.branch.dropna())]
    br = c2.pills("Branch", branches, selection_mode="multi", default=branches, key="sxpd_branch")
    sample = c3.selectbox("Sample", sorted(pats.sample_id.unique()), key="sxpd_sample")
    pats = pats[(pats.sample_id == sample) & (pats.branch.isin(br) | pats.branch.isna())]
    if not chosen or pats.empty:
        return empty("choose a quantity and a branch")
    pats["hours"] = pats.elapsed_s / 3600
    long = pats.melt(id_vars=["measurement_id", "scan_number", "hours", "soc_pct", "branch", "voltage_v"],
                     value_vars=[SXPD_QUANTITIES[k] for k in chosen], var_name="quantity", value_name="value")
    long = long.dropna(subset=["value"])
    cell = pats.cell_id.dropna().iloc[0] if pats.cell_id.notna().any() else None
    t0 = pats.measured_at.min()
    volt = q("""select time_s, timestamp, voltage_v, soc_pct from echem_series where cell_id = ?
                qualify row_number() over (order by time_s) % greatest(1, (count(*) over () / 600)::int) = 0
                order by time_s""", [cell]) if cell else pd.DataFrame()
    tab1, tab2 = st.tabs(["vs time", "vs SOC"])
    with tab1:
        charts = []
        if len(volt) and volt.timestamp.notna().any():
            volt["hours"] = (volt.timestamp - t0).dt.total_seconds() / 3600
            span = (pats.hours.min() - 0.5, pats.hours.max() + 0.5)
            volt = volt[(volt.hours >= span[0]) & (volt.hours <= span[1])]
            charts.append(alt.Chart(volt).mark_line(color="#444").encode(
                x=alt.X("hours:Q", title="time since first pattern (h)"),
                y=alt.Y("voltage_v:Q", title="cell voltage (V)", scale=alt.Scale(zero=False))).properties(height=140))
        for qname in chosen:
            sub = long[long.quantity == SXPD_QUANTITIES[qname]]
            charts.append(alt.Chart(sub).mark_point(filled=True).encode(
                x=alt.X("hours:Q", title="time since first pattern (h)"),
                y=alt.Y("value:Q", title=qname, scale=alt.Scale(zero=False)),
                color=alt.Color("branch:N", scale=BRANCH_COLORS), tooltip=["scan_number", "hours", "soc_pct", "voltage_v", "value"])
                .properties(height=140))
        chart(alt.vconcat(*charts).resolve_scale(x="shared"))
    with tab2:
        sub = long[long.soc_pct.notna()]
        chart(alt.Chart(sub).mark_line(point=True).encode(
            x=alt.X("soc_pct:Q", title="SOC (%)"), y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("branch:N", scale=BRANCH_COLORS), order="hours:Q",
            tooltip=["scan_number", "soc_pct", "voltage_v", "value"])
              .properties(height=170, width=700).facet(row=alt.Row("quantity:N", title=None))
              .resolve_scale(y="independent"))
    main_plot(long, "quantity", "value", "branch")
    with st.expander("patterns"):
        st.dataframe(pats, hide_index=True)


# -------------------------------------------------------------------------------------------- NEXAFS
def page_nexafs() -> None:
    st.title("NEXAFS")
    st.caption("Normalised spectra per edge and detection mode overlaid by SOC (Figure 4); Ni2+ fraction of Ni "
               "against SOC for surface (TEY) and bulk (FY).")
    spectra = q("""select x.measurement_id, x.sample_id, x.edge, x.mode, s.soc_pct, s.branch, x.quality_flags
                   from xas_spectra x left join samples s using (sample_id) where x.role = 'sample'""")
    if spectra.empty:
        return empty("no NEXAFS spectra in the warehouse")
    c1, c2, c3 = st.columns([2, 2, 3])
    edges = sorted(spectra.edge.unique())
    edge = c1.radio("Edge", edges, index=edges.index("Ni_L") if "Ni_L" in edges else 0, horizontal=True,
                    key="xas_edge")
    modes = sorted(spectra["mode"].unique(), reverse=True)
    mode = c2.radio("Mode", modes, horizontal=True, key="xas_mode")
    samples = sorted(spectra.sample_id.unique(), key=lambda s: spectra[spectra.sample_id == s].soc_pct.iloc[0])
    chosen = c3.multiselect("Samples", samples, default=samples, key="xas_samples")
    sel = spectra[(spectra.edge == edge) & (spectra["mode"] == mode) & spectra.sample_id.isin(chosen)]
    if sel.empty:
        return empty("no spectrum for this choice")
    pts = q("""select p.measurement_id, p.energy_ev, p.mu_final from xas_points p
               where list_contains(?::VARCHAR[], p.measurement_id) and p.mu_final is not null
               order by p.measurement_id, p.energy_ev""", [list(sel.measurement_id)])
    pts = pts.merge(sel[["measurement_id", "sample_id", "soc_pct", "branch"]], on="measurement_id")
    pts["label"] = pts.sample_id + " (" + pts.soc_pct.round(0).astype(int).astype(str) + " %)"
    chart(alt.Chart(pts).mark_line().encode(
        x=alt.X("energy_ev:Q", title="energy (eV)", scale=alt.Scale(zero=False)),
        y=alt.Y("mu_final:Q", title="normalised absorption"),
        color=alt.Color("soc_pct:Q", scale=SOC_SCALE, title="SOC (%)"), detail="label:N",
        tooltip=["label", "energy_ev", "mu_final"]).properties(height=380, title=f"{edge} · {mode}"))
    main_plot(pts, "measurement_id", "energy_ev", "mu_final")
    st.subheader("Ni2+ fraction vs SOC: surface (TEY) vs bulk (FY)")
    ni = q("""select v.sample_id, v.mode, v.ni2_fraction, v.ni2_fraction_sigma, v.n_spectra, s.soc_pct, s.branch,
                     s.series from nexafs_ni_valence v left join samples s using (sample_id) order by soc_pct""")
    ni = ni[ni.sample_id.isin(chosen)]
    if ni.empty:
        st.info("no Ni2+ fractions (Ni L-edge fits) for these samples")
    else:
        ni["lo"] = ni.ni2_fraction - 1.96 * ni.ni2_fraction_sigma.fillna(0)
        ni["hi"] = ni.ni2_fraction + 1.96 * ni.ni2_fraction_sigma.fillna(0)
        base = alt.Chart(ni).encode(x=alt.X("soc_pct:Q", title="SOC (%)"), color=alt.Color("mode:N", title="mode"))
        chart(alt.layer(
            base.mark_line(point=True).encode(y=alt.Y("ni2_fraction:Q", title="Ni2+ fraction of Ni"),
                                              shape=alt.Shape("branch:N", scale=BRANCH_SHAPES),
                                              tooltip=["sample_id", "mode", "soc_pct", "ni2_fraction",
                                                       "ni2_fraction_sigma", "n_spectra"]),
            base.mark_rule().encode(y="lo:Q", y2="hi:Q")).properties(height=300))


# -------------------------------------------------------------------------------------- correlations
def page_correlations() -> None:
    st.title("Correlations")
    st.caption("Pearson r of every feature pair across samples (correlations mart). Click a cell (or pick it "
               "below) to see the scatter with each point's sample, then trace a point to its raw files.")
    corr = q("""select feature_x, feature_y, series, branch, n, pearson_r, spearman_rho, ci_low, ci_high,
                       n_interpolated, samples from correlations""")
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
                 alt.Tooltip("spearman_rho:Q", format=".3f"), "n", "n_interpolated", "samples"]
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
    pairs = sub.assign(_i=sub.n_interpolated > 0, _r=-sub.pearson_r.abs()).sort_values(["_i", "_r"])
    pair_labels = [f"{r.feature_x}  ×  {r.feature_y}" for r in pairs.itertuples()]
    default = 0
    if picked:
        for i, r in enumerate(pairs.itertuples()):
            if {r.feature_x, r.feature_y} == set(picked):
                default = i
    label = st.selectbox("Cell (feature pair; measured before interpolated, strongest first)", pair_labels, index=default,
                         key=f"corr_pair_{series}_{branch}_{picked}")
    row = pairs.iloc[pair_labels.index(label)]
    fx, fy = row.feature_x, row.feature_y
    samples = row.samples.split(",")
    xv = D.feature_values(_catalog(ctx().root), fx, samples, snap())
    yv = D.feature_values(_catalog(ctx().root), fy, samples, snap())
    pts = xv.merge(yv[["sample_id", "value", "interpolated", "profile_key"]], on="sample_id", suffixes=("_x", "_y"))
    left, right = st.columns([1, 1])
    with left:
        st.markdown(f"**{fy}** vs **{fx}** · {series}, {branch} · r = {row.pearson_r:.3f}, "
                    f"ρ = {row.spearman_rho:.3f}, n = {row.n} ({row.n_interpolated} interpolated)")
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
            st.dataframe(lin[["feature", "original_name", "technique", "reader", "params_id", "raw_sha256",
                              "n_observations", "flow_run_id", "store_path"]], hide_index=True)
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
        st.dataframe(v[["claim", "check_name", "verdict", "statistic", "expected", "why"]], hide_index=True)
        with st.expander("evidence of a check (rows with their raw-file lineage)"):
            name = st.selectbox("Check", list(v.check_name), key="find_check")
            r = v[v.check_name == name].iloc[0]
            try:
                ev = pd.json_normalize(json.loads(r.evidence))
                st.dataframe(ev.astype(str), hide_index=True)
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
    soc = q("select count(*) as n, sum(case when soc_mismatch then 1 else 0 end) as failed from sample_soc")
    checks.append({"check": "echem: measured SOC within tolerance of nominal", "subjects": int(soc.n.iloc[0]),
                   "failed": int(soc.failed.fillna(0).iloc[0])})
    sx = q("""select count(*) as n, sum(case when quality_flags <> '' then 1 else 0 end) as flagged,
                     sum(case when alignment_flag not in ('', 'ok') then 1 else 0 end) as misaligned
              from sxpd_patterns_soc""")
    checks.append({"check": "sxpd: patterns without quality flags", "subjects": int(sx.n.iloc[0]),
                   "failed": int(sx.flagged.fillna(0).iloc[0])})
    checks.append({"check": "sxpd: patterns aligned with the cycler", "subjects": int(sx.n.iloc[0]),
                   "failed": int(sx.misaligned.fillna(0).iloc[0])})
    xs = q("""select count(*) as n, sum(case when coalesce(quality_flags, '') <> '' then 1 else 0 end) as flagged
              from xas_spectra""")
    checks.append({"check": "nexafs: spectra without quality flags", "subjects": int(xs.n.iloc[0]),
                   "failed": int(xs.flagged.fillna(0).iloc[0])})
    reg = q("select count(*) as n, sum(case when quality_ok then 0 else 1 end) as failed from afm_registrations")
    checks.append({"check": "afm: ESM × C-AFM registrations above the correlation threshold",
                   "subjects": int(reg.n.iloc[0]), "failed": int(reg.failed.fillna(0).iloc[0])})
    ev = q("""select count(*) as n, sum(case when status = 'ok' then 0 else 1 end) as failed from
              (select * from ingest_events where stage = 'process'
               qualify row_number() over (partition by raw_sha256 order by attempted_at desc) = 1)""")
    checks.append({"check": "all: files read and validated (latest attempt ok)", "subjects": int(ev.n.iloc[0]),
                   "failed": int(ev.failed.fillna(0).iloc[0])})
    st.dataframe(pd.DataFrame(checks), hide_index=True)
    flags = q("""select 'sxpd' as technique, measurement_id, quality_flags as flags, alignment_flag as detail
                 from sxpd_patterns_soc where quality_flags <> '' or alignment_flag not in ('', 'ok')
                 union all
                 select 'nexafs', measurement_id, quality_flags, sample_id || ' ' || edge || ' ' || mode
                 from xas_spectra where coalesce(quality_flags, '') <> ''""")
    if len(flags):
        with st.expander(f"{len(flags)} flagged measurements"):
            st.dataframe(flags, hide_index=True)
    st.subheader("Quarantine")
    quarantine = q("""select technique, sample_id, original_name, stage, reason, error_type, reader, params_id,
                             attempted_at, raw_sha256 from quarantine order by attempted_at desc""")
    if quarantine.empty:
        st.success("no file quarantined")
    else:
        st.table(quarantine.head(200).set_index("original_name"))


PAGES = [
    ("campaign", "Campaign", page_campaign),
    ("soc_profiles", "SOC profiles", page_soc_profiles),
    ("afm_maps", "AFM maps", page_afm_maps),
    ("diffraction", "Diffraction", page_diffraction),
    ("nexafs", "NEXAFS", page_nexafs),
    ("correlations", "Correlations", page_correlations),
    ("findings", "Findings & quality", page_findings),
]
