"""The dashboard page of the NEXAFS technique: normalised spectra per edge and detection mode
overlaid by SOC, and the Ni2+ fraction of Ni against SOC for surface (TEY) and bulk (FY).
Drawn with the dashboard's kit (``foundation.contract.PageKit``)."""
from __future__ import annotations

from foundation.contract import PageKit


def render(kit: PageKit) -> None:
    """The NEXAFS page (``Page("nexafs", ...)``)."""
    import altair as alt  # here, not at the top: every pipeline worker loads the plugin, altair costs ~1 s

    st = kit.st
    st.title("NEXAFS")
    st.caption("Normalised spectra per edge and detection mode overlaid by SOC (Figure 4); Ni2+ fraction of Ni "
               "against SOC for surface (TEY) and bulk (FY).")
    spectra = kit.q("""select x.measurement_id, x.sample_id, x.edge, x.mode, s.soc_pct, s.branch, x.quality_flags
                   from xas_spectra x left join samples s using (sample_id) where x.role = 'sample'""")
    if spectra.empty:
        return kit.empty("no NEXAFS spectra in the warehouse")
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
        return kit.empty("no spectrum for this choice")
    pts = kit.q("""select p.measurement_id, p.energy_ev, p.mu_final from xas_points p
               where list_contains(?::VARCHAR[], p.measurement_id) and p.mu_final is not null
               order by p.measurement_id, p.energy_ev""", [list(sel.measurement_id)])
    pts = pts.merge(sel[["measurement_id", "sample_id", "soc_pct", "branch"]], on="measurement_id")
    pts["label"] = pts.sample_id + " (" + pts.soc_pct.round(0).astype(int).astype(str) + " %)"
    kit.chart(alt.Chart(pts).mark_line().encode(
        x=alt.X("energy_ev:Q", title="energy (eV)", scale=alt.Scale(zero=False)),
        y=alt.Y("mu_final:Q", title="normalised absorption"),
        color=alt.Color("soc_pct:Q", scale=kit.SOC_SCALE, title="SOC (%)"), detail="label:N",
        tooltip=["label", "energy_ev", "mu_final"]).properties(height=380, title=f"{edge} · {mode}"))
    kit.main_plot(pts, "measurement_id", "energy_ev", "mu_final")
    with st.expander("spectra shown (each links to its raw file, reader, parameters and flow run)"):
        kit.table(sel, f"xas_spectra_{edge}_{mode}", lineage="xas_spectra", key="xas_spectra")
    st.subheader("Ni2+ fraction vs SOC: surface (TEY) vs bulk (FY)")
    ni = kit.q("""select v.sample_id, v.mode, v.ni2_fraction, v.ni2_fraction_sigma, v.n_spectra, s.soc_pct, s.branch,
                     s.series from nexafs_ni_valence v left join samples s using (sample_id) order by soc_pct""")
    ni = ni[ni.sample_id.isin(chosen)]
    if ni.empty:
        st.info("no Ni2+ fractions (Ni L-edge fits) for these samples")
    else:
        ni["lo"] = ni.ni2_fraction - 1.96 * ni.ni2_fraction_sigma.fillna(0)
        ni["hi"] = ni.ni2_fraction + 1.96 * ni.ni2_fraction_sigma.fillna(0)
        base = alt.Chart(ni).encode(x=alt.X("soc_pct:Q", title="SOC (%)"), color=alt.Color("mode:N", title="mode"))
        kit.chart(alt.layer(
            base.mark_line(point=True).encode(y=alt.Y("ni2_fraction:Q", title="Ni2+ fraction of Ni"),
                                              shape=alt.Shape("branch:N", scale=kit.BRANCH_SHAPES),
                                              tooltip=["sample_id", "mode", "soc_pct", "ni2_fraction",
                                                       "ni2_fraction_sigma", "n_spectra"]),
            base.mark_rule().encode(y="lo:Q", y2="hi:Q")).properties(height=300))
        kit.table(ni.drop(columns=["lo", "hi"]), "nexafs_ni_valence", key="xas_ni")
