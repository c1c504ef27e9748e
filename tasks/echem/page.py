"""The dashboard page of GITT: the diffusion coefficient D(SOC) of every GITT cell (Weppner-Huggins, both
estimates of gitt_pulses) and the voltage of its pulses against time. Drawn with the dashboard's kit
(``foundation.contract.PageKit``)."""
from __future__ import annotations

from foundation.contract import PageKit

PULSES_SQL = """
    select cell_id, measurement_id, pulse_index, direction, soc_pct, d_m2_s, d_sqrt_t_m2_s, tau_s, current_a,
           e0_v, ir_drop_v, delta_es_v, delta_et_v, sqrt_t_r2, relaxed, end_rest_drift_mv_h, area_basis,
           start_time_s, rest_s, null_reasons, raw_sha256, params_id
    from current_gitt_pulses where cell_id is not null order by cell_id, measurement_id, pulse_index"""
#: the cycler records of one GITT file, thinned to at most ~3000 points in SQL
VOLTAGE_SQL = """
    select time_s / 3600 as hours, voltage_v, current_a, condition from current_echem_series
    where measurement_id = ? and record_index % greatest(1, (select count(*) // 3000 from current_echem_series
                                                            where measurement_id = ?)) = 0
    order by record_index"""
D_ESTIMATES = {"d_m2_s": "(ΔEs/ΔEt)²", "d_sqrt_t_m2_s": "ΔEs and dE/d√t"}


def render(kit: PageKit) -> None:
    """The GITT page (``Page("gitt", ...)``)."""
    import altair as alt  # here, not at the top: every pipeline worker loads the plugin, altair costs ~1 s

    st = kit.st
    st.title("GITT")
    st.caption("Diffusion coefficient D against SOC per GITT cell (Weppner–Huggins, log scale, m²/s; both estimates "
               "of gitt_pulses), and the cell voltage of the file with the start of each pulse marked. Pulses whose "
               "rest did not relax are drawn hollow.")
    pulses = kit.q(PULSES_SQL)
    if pulses.empty:
        return kit.empty("no GITT pulses in the warehouse (gitt_pulses is empty)")
    c1, c2 = st.columns([2, 3])
    cells = list(dict.fromkeys(pulses.cell_id))
    cell = c1.selectbox("Cell", cells, key="gitt_cell")
    directions = sorted(pulses.direction.unique())
    chosen = c2.pills("Direction", directions, selection_mode="multi", default=directions, key="gitt_direction")
    p = pulses[(pulses.cell_id == cell) & pulses.direction.isin(chosen)]
    if p.empty:
        return kit.empty("no pulse for this choice")
    long = p.melt(id_vars=["pulse_index", "direction", "soc_pct", "relaxed"], value_vars=list(D_ESTIMATES),
                  var_name="estimate", value_name="d").dropna(subset=["d", "soc_pct"])
    long = long[long.d > 0]  # a log axis; a null D says why in null_reasons (table below)
    long["estimate"] = long.estimate.map(D_ESTIMATES)
    kit.chart(alt.Chart(long).mark_point(size=60, filled=True).encode(
        x=alt.X("soc_pct:Q", title="SOC (%)", scale=alt.Scale(domain=[-5, 105])),
        y=alt.Y("d:Q", title="D (m²/s)", scale=alt.Scale(type="log"), axis=alt.Axis(format=".0e")),
        color=alt.Color("direction:N", scale=kit.BRANCH_COLORS), shape=alt.Shape("estimate:N"),
        fillOpacity=alt.condition("datum.relaxed", alt.value(1), alt.value(0)),
        tooltip=["pulse_index", "direction", alt.Tooltip("soc_pct:Q", format=".1f"), "estimate",
                 alt.Tooltip("d:Q", format=".3e"), "relaxed"]).properties(height=320, title=f"D(SOC) · {cell}"))
    kit.main_plot(long, "pulse_index", "estimate", "d")
    _pulses_chart(kit, alt, p)
    st.markdown("**Pulses** (units: s, A, %, V, m²/s; each row links to its raw file, reader and parameters)")
    kit.table(p, f"gitt_pulses_{cell}", lineage="gitt_pulses", key="gitt_pulses",
              column_config={c: st.column_config.NumberColumn(format="%.3e") for c in D_ESTIMATES})


def _pulses_chart(kit: PageKit, alt, p) -> None:
    """The voltage of the cell's (first) GITT file against time, a rule at the start of every pulse."""
    mid = p.measurement_id.iloc[0]
    v = kit.q(VOLTAGE_SQL, [mid, mid])
    if v.empty:
        kit.st.caption(f"no cycler records of {mid} in echem_series")
        return
    starts = p[p.measurement_id == mid].assign(hours=lambda d: d.start_time_s / 3600)
    line = alt.Chart(v).mark_line(color="#444", strokeWidth=1).encode(
        x=alt.X("hours:Q", title="time (h)"), y=alt.Y("voltage_v:Q", title="voltage (V)", scale=alt.Scale(zero=False)))
    rules = alt.Chart(starts).mark_rule(opacity=0.5).encode(
        x="hours:Q", color=alt.Color("direction:N", scale=kit.BRANCH_COLORS),
        tooltip=["pulse_index", "direction", alt.Tooltip("soc_pct:Q", format=".1f"), "tau_s", "current_a"])
    kit.chart(alt.layer(line, rules).properties(height=240, title=f"pulses · {mid}"))
