"""The dashboard page of the SXPD technique: lattice parameters and microstrain of every pattern,
aligned with the cycler, against time (with the voltage curve) and against SOC per branch.
Drawn with the dashboard's kit (``foundation.contract.PageKit``)."""
from __future__ import annotations

import pandas as pd

from foundation.contract import PageKit

SXPD_QUANTITIES = {"a (Å)": "a_angstrom", "c (Å)": "c_angstrom", "volume (Å³)": "volume_a3",
                   "c/a": "c_over_a", "microstrain 00l (%)": "microstrain_00l_pct",
                   "microstrain hk0 (%)": "microstrain_hk0_pct", "microstrain (%)": "microstrain_pct"}


def render(kit: PageKit) -> None:
    """The diffraction page (``Page("diffraction", ...)``)."""
    import altair as alt  # here, not at the top: every pipeline worker loads the plugin, altair costs ~1 s

    st = kit.st
    st.title("Diffraction (operando SXPD)")
    st.caption("Lattice parameters and microstrain of every pattern, aligned with the cycler: against time with "
               "the voltage curve, and against SOC per branch (Figure 5).")
    pats = kit.q("""select sample_id, measurement_id, scan_number, measured_at, elapsed_s, voltage_v, soc_pct, branch,
                       cell_id, a_angstrom, a_sigma_angstrom, c_angstrom, c_sigma_angstrom, volume_a3, c_over_a,
                       microstrain_pct, microstrain_00l_pct, microstrain_hk0_pct, alignment_flag, quality_flags
                from sxpd_patterns_soc where sample_id is not null order by measured_at""")
    if pats.empty:
        return kit.empty("no SXPD patterns in the warehouse")
    c1, c2, c3 = st.columns([3, 2, 2])
    chosen = c1.multiselect("Quantities", list(SXPD_QUANTITIES), default=["a (Å)", "c (Å)", "volume (Å³)",
                                                                        "microstrain 00l (%)"], key="sxpd_q")
    branches = [b for b in ["charge", "discharge", "rest"] if b in set(pats.branch.dropna())]
    br = c2.pills("Branch", branches, selection_mode="multi", default=branches, key="sxpd_branch")
    sample = c3.selectbox("Sample", sorted(pats.sample_id.unique()), key="sxpd_sample")
    pats = pats[(pats.sample_id == sample) & (pats.branch.isin(br) | pats.branch.isna())]
    if not chosen or pats.empty:
        return kit.empty("choose a quantity and a branch")
    pats["hours"] = pats.elapsed_s / 3600
    long = pats.melt(id_vars=["measurement_id", "scan_number", "hours", "soc_pct", "branch", "voltage_v"],
                     value_vars=[SXPD_QUANTITIES[k] for k in chosen], var_name="quantity", value_name="value")
    long = long.dropna(subset=["value"])
    cell = pats.cell_id.dropna().iloc[0] if pats.cell_id.notna().any() else None
    t0 = pats.measured_at.min()
    volt = kit.q("""select time_s, timestamp, voltage_v, soc_pct from echem_series where cell_id = ?
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
                color=alt.Color("branch:N", scale=kit.BRANCH_COLORS), tooltip=["scan_number", "hours", "soc_pct", "voltage_v", "value"])
                .properties(height=140))
        kit.chart(alt.vconcat(*charts).resolve_scale(x="shared"))
    with tab2:
        sub = long[long.soc_pct.notna()]
        kit.chart(alt.Chart(sub).mark_line(point=True).encode(
            x=alt.X("soc_pct:Q", title="SOC (%)"), y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("branch:N", scale=kit.BRANCH_COLORS), order="hours:Q",
            tooltip=["scan_number", "soc_pct", "voltage_v", "value"])
              .properties(height=170, width=700).facet(row=alt.Row("quantity:N", title=None))
              .resolve_scale(y="independent"))
    kit.main_plot(long, "quantity", "value", "branch")
    with st.expander("patterns"):
        kit.table(pats, f"sxpd_patterns_{sample}", lineage="sxpd_patterns", key="sxpd_values")
