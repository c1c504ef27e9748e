"""The SQL of the AFM dashboard page (tasks/afm/page.py): maps downsampled in SQL, particle outlines,
line profiles and histograms, on the afm_* tables. Plain strings, no Streamlit, so that they are
testable on a catalog alone. Column names go into the text through ``ident``; values are bound as ``?``."""
from __future__ import annotations

import math

from foundation.sql import ident

CHANNELS = {  # label: (pixel column, histogram short name, unit suffix, unit)
    "ESM amplitude": ("esm_amp_pm_per_v", "esm", "pm_per_v", "pm/V"),
    "topography": ("height_nm", "height", "nm", "nm"),
    "CRF": ("crf_khz", "crf", "khz", "kHz"),
    "current": ("current_pa", "current", "pa", "pA"),
    "phase": ("phase_deg", None, None, "deg"),
}
#: how many pixels of a map hold each channel (column names from CHANNELS, quoted by ident)
CHANNEL_COUNTS_SQL = ("select " + ", ".join(f"count({ident(col)}) as \"{lab}\"" for lab, (col, *_r) in CHANNELS.items())
                      + " from afm_pixels where measurement_id = ?")


def grid_step(n_px: int, target: int) -> int:
    """Integer downsampling factor so that an n_px-wide map is drawn with at most ``target`` cells."""
    return max(1, math.ceil(n_px / max(1, target)))


def map_sql(channel: str, step: int) -> str:
    """Downsampled map: mean of ``channel`` over step × step pixel blocks, with the majority particle."""
    return f"""
        with p as (select x_um, y_um, {ident(channel)} as v, particle_id from afm_pixels where measurement_id = ?),
        g as (select min(x_um) as x0, min(y_um) as y0 from p),
        s as (select (select max(x_um) - min(x_um) from p) / (count(distinct x_um) - 1) as dx from p)
        select floor((x_um - g.x0) / (s.dx * {int(step)}) + 1e-6)::int as ix,
               floor((y_um - g.y0) / (s.dx * {int(step)}) + 1e-6)::int as iy,
               avg(x_um) as x_um, avg(y_um) as y_um, avg(v) as value, mode(particle_id) as particle_id
        from p, g, s group by all order by iy, ix"""


OUTLINE_SQL = """
    select x_um, y_um, particle_id from afm_pixels
    where measurement_id = ? and particle_id > 0 and dist_to_boundary_um <= ?"""


def line_profile_sql(channel: str) -> str:
    """Pixels within half a pixel of the segment (x0,y0)-(x1,y1), binned along it by pixel size."""
    return f"""
        with seg as (select ?::double as x0, ?::double as y0, ?::double as x1, ?::double as y1, ?::double as w),
        p as (
            select x_um, y_um, {ident(channel)} as v, region,
                   ((x_um - x0) * (x1 - x0) + (y_um - y0) * (y1 - y0))
                       / nullif((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0), 0) as t,
                   abs((x_um - x0) * (y1 - y0) - (y_um - y0) * (x1 - x0))
                       / nullif(sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)), 0) as d,
                   sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)) as len, w
            from afm_pixels, seg where measurement_id = ?)
        select round(t * len / w) * w as distance_um, avg(v) as value, count(*) as n_px,
               mode(region) as region
        from p where t between 0 and 1 and d <= w * 0.75 group by 1 order by 1"""


def hist_sql(short: str, unit: str) -> str:
    """Histograms of one channel (its columns ``<short>_bin_lo_<unit>``...) per sample, as densities."""
    lo, hi, count = ident(f"{short}_bin_lo_{unit}"), ident(f"{short}_bin_hi_{unit}"), ident(f"{short}_count")
    return f"""
    with h as (
        select h.sample_id, h.mode, h.bin_index,
               h.{lo} as bin_lo, h.{hi} as bin_hi, sum(h.{count}) as count
        from afm_histograms h
        where h.region = ? and h.{count} is not null
        group by all)
    select h.*, s.series, s.branch, s.soc_nominal_pct, s.soc_pct,
           count / sum(count) over (partition by h.sample_id) / (bin_hi - bin_lo) as density
    from h join samples s using (sample_id)
    order by s.series, s.soc_pct, h.sample_id, bin_index"""
