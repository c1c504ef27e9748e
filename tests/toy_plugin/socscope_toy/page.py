"""The toy's dashboard page, drawn with the kit the dashboard hands in (never importing the app)."""
from __future__ import annotations

SAMPLE_MEANS = "select sample_id, mode, mean_y_v, n_points from toy_sample_means order by sample_id, mode"


def render(kit) -> None:
    means = kit.q(SAMPLE_MEANS, [])
    if means.empty:
        kit.empty("no toy series yet: put toy files on the share and run `socscope run`")
        return
    import altair as alt  # comes with streamlit, which only the dashboard needs

    kit.st.dataframe(means, hide_index=True)
    kit.chart(alt.Chart(means).mark_bar().encode(x="sample_id:N", y="mean_y_v:Q", color="mode:N"))
    kit.main_plot(means, "sample_id", "mode", "mean_y_v")
