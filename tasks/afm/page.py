"""The dashboard page of the AFM technique: maps of one sample with particle outlines, a line profile,
all channels of a location side by side, a particle's rim-to-core profile and histograms per SOC.
Drawn with the dashboard's kit (``foundation.contract.PageKit``); its SQL is in page_sql.py."""
from __future__ import annotations

import pandas as pd

from foundation.contract import PageKit
from foundation.sql import ident
from tasks.afm.page_sql import (
    CHANNEL_COUNTS_SQL,
    CHANNELS,
    OUTLINE_SQL,
    grid_step,
    hist_sql,
    line_profile_sql,
    map_sql,
)


def render(kit: PageKit) -> None:
    """The AFM maps page (``Page("afm_maps", ...)``)."""
    import altair as alt  # here, not at the top: every pipeline worker loads the plugin, altair costs ~1 s

    st = kit.st
    st.title("AFM maps")
    st.caption("Maps of one sample with particle outlines (downsampled in SQL), histograms per SOC on common "
               "bins, a particle's rim-to-core profile and a line profile across the map.")
    maps = kit.q("""select m.measurement_id, m.sample_id, m.mode, m.original_name, m.location_tag, m.scan_size_x_um,
                       m.scan_size_y_um, m.n_x_px, m.pixel_size_um, m.n_particles, s.series, s.soc_pct, s.branch
                from afm_maps m left join samples s using (sample_id) order by s.series, s.soc_pct, m.sample_id,
                m.mode desc, m.original_name""")
    if maps.empty:
        return kit.empty("no AFM maps in the warehouse")
    samples = list(dict.fromkeys(maps.sample_id))
    c1, c2, c3 = st.columns([2, 3, 2])
    default_sample = "P-DC0" if "P-DC0" in samples else samples[0]
    sample = c1.selectbox("Sample", samples, index=samples.index(default_sample), key="afm_sample")
    mm = maps[maps.sample_id == sample]
    labels = {r.measurement_id: f"{r.mode} · {r.original_name}" for r in mm.itertuples()}
    mid = c2.selectbox("Map", list(labels), format_func=labels.get, key=f"afm_map_{sample}")
    info = mm[mm.measurement_id == mid].iloc[0]
    have = kit.q(CHANNEL_COUNTS_SQL, [mid]).iloc[0]
    channels = [lab for lab in CHANNELS if have[lab] > 0]
    default_ch = "ESM amplitude" if "ESM amplitude" in channels else channels[0]
    channel = c3.radio("Channel", channels, index=channels.index(default_ch), key=f"afm_channel_{mid}",
                       horizontal=True)
    col, _, _, unit = CHANNELS[channel]
    step = grid_step(int(info.n_x_px), 64)
    grid = kit.q(map_sql(col, step), [mid])
    dx = float(info.pixel_size_um) * step
    half = dx * 0.52  # a little overlap: no anti-aliasing seams between blocks
    grid["x0"], grid["x1"] = grid.x_um - half, grid.x_um + half
    grid["y0"], grid["y1"] = grid.y_um - half, grid.y_um + half
    outline = kit.q(OUTLINE_SQL, [mid, float(info.pixel_size_um) * 1.01])
    parts = kit.q("""select particle_id, area_um2, equivalent_diameter_um, centroid_x_um, centroid_y_um, touches_edge,
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
        kit.chart(alt.layer(heat, out, line).properties(height=460))
        with st.expander(f"maps of {sample} (each links to its raw file, reader, parameters and flow run)"):
            kit.table(mm, f"afm_maps_{sample}", lineage="afm_maps", key="afm_maps_of_sample")
    kit.main_plot(grid, "value")
    with right:
        prof = kit.q(line_profile_sql(col), [x0, y0, x1, y1, float(info.pixel_size_um) * 2, mid])
        if len(prof):
            pb = alt.Chart(prof).encode(
                x=alt.X("distance_um:Q", title="distance along the line (µm)"),
                y=alt.Y("value:Q", title=f"{channel} ({unit})", scale=alt.Scale(zero=False)))
            kit.chart(alt.layer(pb.mark_line(color="#999"), pb.mark_circle(size=30).encode(
                color=alt.Color("region:N", scale=alt.Scale(domain=["matrix", "rim", "core"],
                                                            range=["#7f7f7f", "#00a6c8", "#d1495b"])),
                tooltip=["distance_um", "value", "n_px", "region"])).properties(height=220))
        else:
            st.info("the line is too short")
    if st.toggle("All channels of this location side by side (ESM map and its C-AFM partner)", value=False,
                 key="afm_all_channels"):
        _all_channels(kit, maps, info)
    st.subheader("Particle: radial profile from rim to core")
    if parts.empty:
        st.info("no particle found in this map")
    else:
        pc1, pc2 = st.columns([2, 3])
        pid = pc1.selectbox("Particle", list(parts.particle_id), key=f"afm_particle_{mid}",
                            format_func=lambda p: f"#{p} · {parts.set_index('particle_id').area_um2[p]:.1f} µm²")
        with pc1:  # one particle, its columns as rows
            one = parts[parts.particle_id == pid]
            kit.table(one.T.reset_index().set_axis(["column", "value"], axis=1).astype(str), f"particle_{pid}",
                      key="afm_particle", height=330)
        value = ident(f"{CHANNELS[channel][1] or 'esm'}_mean_{CHANNELS[channel][2] or 'pm_per_v'}")
        rp = kit.q(f"""select bin_index, dist_lo_um, dist_hi_um, (dist_lo_um + dist_hi_um) / 2 as dist_um, n_px,
                          {value} as value
                   from afm_profiles where measurement_id = ? and particle_id = ? order by bin_index""", [mid, pid]) \
            if CHANNELS[channel][1] else pd.DataFrame()
        with pc2:
            if rp.empty or rp.value.isna().all():
                st.info(f"no radial profile of {channel} for this particle")
            else:
                kit.chart(alt.Chart(rp).mark_line(point=True).encode(
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
    hist = kit.q(hist_sql(short, usuf), [region])
    hist = hist[(hist.series == hseries) & (hist["count"] > 0)]
    if hist.empty:
        st.info("no histogram for this choice")
    else:
        hist["label"] = hist.sample_id + " (" + hist.soc_pct.round(0).astype(int).astype(str) + " %, " + hist.branch + ")"
        hist["x"] = (hist.bin_lo + hist.bin_hi) / 2
        kit.chart(alt.Chart(hist).mark_line(interpolate="step-after").encode(
            x=alt.X("x:Q", title=f"{hch} ({hunit})"), y=alt.Y("density:Q", title=f"density (1/{hunit})"),
            color=alt.Color("soc_pct:Q", scale=kit.SOC_SCALE, title="SOC (%)"),
            strokeDash=alt.StrokeDash("branch:N"), detail="label:N",
            tooltip=["label", "bin_lo", "bin_hi", "count", alt.Tooltip("density:Q", format=".3g")])
              .properties(height=300))


def _all_channels(kit: PageKit, maps: pd.DataFrame, info) -> None:
    """Small maps of every channel of the maps taken at the same location of the sample."""
    import altair as alt  # here, not at the top: every pipeline worker loads the plugin, altair costs ~1 s

    st = kit.st
    same = maps[(maps.sample_id == info.sample_id) & (maps.location_tag == info.location_tag)]
    panels = []
    for r in same.itertuples():
        have = kit.q(CHANNEL_COUNTS_SQL, [r.measurement_id]).iloc[0]
        for lab, (col, *_r, unit) in CHANNELS.items():
            if have[lab] > 0 and lab != "phase" and not (r.mode == "CAFM" and lab == "topography"):
                panels.append((r, lab, col, unit))
    cols = st.columns(max(1, min(4, len(panels))))
    for i, (r, lab, col, unit) in enumerate(panels):
        step = grid_step(int(r.n_x_px), 48)
        g = kit.q(map_sql(col, step), [r.measurement_id])
        half = float(r.pixel_size_um) * step * 0.52
        g["x0"], g["x1"], g["y0"], g["y1"] = g.x_um - half, g.x_um + half, g.y_um - half, g.y_um + half
        size = float(r.scan_size_x_um)
        sc = alt.Scale(domain=[0, size], nice=False)
        with cols[i % len(cols)]:
            st.caption(f"{lab} ({unit}) · {r.mode} · {r.original_name}")
            kit.chart(alt.Chart(g).mark_rect().encode(
                x=alt.X("x0:Q", scale=sc, title=None), x2="x1:Q", y=alt.Y("y0:Q", scale=sc, title=None), y2="y1:Q",
                color=alt.Color("value:Q", title=unit, legend=alt.Legend(orient="right", gradientLength=110, title=None),
                                scale=alt.Scale(scheme="greys" if col == "height_nm" else "inferno")))
                  .properties(height=210))
