"""The dashboard page of the co-registered ESM x C-AFM pixels (the heart of claim 1): per map pair, the 2-D
histogram of ESM amplitude against C-AFM current over the pixels of the mask the pixel correlation used,
with that correlation (pixel_correlations) and the registration it rests on (afm_registrations).
Drawn with the dashboard's kit (``foundation.contract.PageKit``)."""
from __future__ import annotations

import pandas as pd

from foundation.contract import PageKit

PAIRS_SQL = """
    select r.pair_id, m.sample_id, r.location_tag, r.esm_measurement_id, r.cafm_measurement_id, r.shift_x_um,
           r.shift_y_um, r.peak_correlation, r.overlap_fraction, r.quality_ok, s.series, s.soc_pct, s.branch
    from current_afm_registrations r join current_afm_maps m on m.measurement_id = r.esm_measurement_id
    left join samples s on s.sample_id = m.sample_id
    order by s.series, s.soc_pct, m.sample_id, r.location_tag"""
PIXEL_CORR_SQL = """select pair_id, particle_id, n_pixels, pearson_r, spearman_rho, params_id
                    from pixel_correlations where pair_id = ? order by particle_id"""
BINS = 40
#: the mask of pixel_correlations (warehouse/marts/correlations.py): both channels measured on the
#: co-registered grid; a particle: the ESM map's particle label
HIST_SQL = """
    with p as (select esm_amp_pm_per_v as x, current_pa as y from current_afm_pairs
               where pair_id = ? and esm_amp_pm_per_v is not null and current_pa is not null
                 and (? = 0 or particle_id = ?)),
         e as (select min(x) as x0, max(x) as x1, min(y) as y0, max(y) as y1 from p)
    select least(floor((x - x0) / nullif(x1 - x0, 0) * ?), ? - 1)::int as bx,
           least(floor((y - y0) / nullif(y1 - y0, 0) * ?), ? - 1)::int as by,
           count(*) as pixels, any_value(x0) as x0, any_value(x1) as x1, any_value(y0) as y0, any_value(y1) as y1
    from p, e group by all"""


def render(kit: PageKit) -> None:
    """The ESM x C-AFM pixels page (``Page("afm_pixels", ...)``)."""
    import altair as alt  # here, not at the top: every pipeline worker loads the plugin, altair costs ~1 s

    st = kit.st
    st.title("ESM × C-AFM pixels")
    st.caption("Per co-registered map pair: the 2-D histogram of ESM amplitude (pm/V) against C-AFM current (pA) "
               "over the pixels of the mask, with the pixel correlation of the warehouse (pixel_correlations) "
               "and the registration it rests on.")
    pairs = kit.q(PAIRS_SQL)
    if pairs.empty:
        return kit.empty("no co-registered ESM × C-AFM map pairs (afm_registrations is empty)")
    c1, c2 = st.columns([3, 2])
    labels = {r.pair_id: f"{r.sample_id} · {r.location_tag} · SOC {r.soc_pct:.0f} %" for r in pairs.itertuples()}
    pair = c1.selectbox("Map pair", list(labels), format_func=labels.get, key="pix_pair")
    corr = kit.q(PIXEL_CORR_SQL, [pair])
    masks = {int(r.particle_id): ("whole overlap" if r.particle_id == 0 else f"particle {r.particle_id}")
             for r in corr.itertuples()} or {0: "whole overlap"}
    particle = c2.selectbox("Mask", list(masks), format_func=masks.get, key=f"pix_mask_{pair}")
    hist = kit.q(HIST_SQL, [pair, particle, particle, BINS, BINS, BINS, BINS])
    if hist.empty:
        return kit.empty("no pixel with both ESM amplitude and current under this mask")
    _summary(kit, pairs[pairs.pair_id == pair].iloc[0], corr[corr.particle_id == particle], masks[particle],
             int(hist.pixels.sum()))
    dx, dy = (hist.x1 - hist.x0) / BINS, (hist.y1 - hist.y0) / BINS
    hist = hist.assign(esm0=hist.x0 + hist.bx * dx, esm1=hist.x0 + (hist.bx + 1) * dx,
                       cur0=hist.y0 + hist.by * dy, cur1=hist.y0 + (hist.by + 1) * dy)
    kit.chart(alt.Chart(hist).mark_rect().encode(
        x=alt.X("esm0:Q", title="ESM amplitude (pm/V)", scale=alt.Scale(zero=False)), x2="esm1:Q",
        y=alt.Y("cur0:Q", title="C-AFM current (pA)", scale=alt.Scale(zero=False)), y2="cur1:Q",
        color=alt.Color("pixels:Q", scale=alt.Scale(type="log", scheme="viridis"), title="pixels"),
        tooltip=[alt.Tooltip("esm0:Q", format=".3g"), alt.Tooltip("cur0:Q", format=".3g"), "pixels"])
        .properties(height=420, title=f"{labels[pair]} · {masks[particle]}"))
    kit.main_plot(hist, "bx", "by", "pixels")
    st.markdown("**Pixel correlations of this pair** (particle 0 = whole overlap)")
    kit.table(corr, f"pixel_correlations_{pair.replace('+', '_')}", key="pix_corr")
    st.markdown("**The two maps** (each links to its raw file, reader, parameters and flow run)")
    maps = pairs[pairs.pair_id == pair].melt(id_vars=["pair_id"], value_vars=["esm_measurement_id",
                                                                              "cafm_measurement_id"],
                                             var_name="map", value_name="measurement_id")
    kit.table(maps, f"pair_maps_{pair.replace('+', '_')}", lineage="afm_maps", key="pix_maps")


def _summary(kit: PageKit, reg, corr, mask: str, shown: int) -> None:
    r = corr.iloc[0] if len(corr) else None
    stat = (f"Pearson r = {r.pearson_r:.3f}" + ("" if pd.isna(r.spearman_rho) else
                                                 f" · Spearman ρ = {r.spearman_rho:.3f}") + f" · n = {r.n_pixels} pixels"
            if r is not None else "no pixel correlation in the warehouse for this mask")
    kit.st.markdown(f"**{stat}** · mask: {mask}, pixels where both ESM amplitude and current are measured on the "
                    f"co-registered ESM grid ({shown} pixels in the histogram)")
    kit.st.caption(f"registration: shift ({reg.shift_x_um:.3f}, {reg.shift_y_um:.3f}) µm, peak correlation "
                   f"{reg.peak_correlation:.3f}, overlap {reg.overlap_fraction:.0%}, "
                   f"{'quality ok' if reg.quality_ok else 'quality NOT ok'}")
