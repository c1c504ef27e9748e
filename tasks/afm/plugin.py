"""The AFM technique plugin: readers, tables, parameters, process/finalize and the demo."""
from __future__ import annotations

from pathlib import Path

from foundation.contract import Page, Technique
from schemas.afm import TABLES
from tasks.afm.demo import demo
from tasks.afm.gwy_reader import GwyddionReader
from tasks.afm.ibw_reader import AsylumIbwReader
from tasks.afm.nanoscope_reader import NanoscopeReader
from tasks.afm.page import render as render_page
from tasks.afm.parameters import AfmParameters
from tasks.afm.process import finalize, process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

TECHNIQUE = Technique(
    name="afm",
    readers=[AsylumIbwReader(), NanoscopeReader(), GwyddionReader()],
    tables=TABLES,
    default_params=HERE / "params" / "default.yaml",
    parameters=AfmParameters,
    process=process,
    finalize=finalize,
    demo=demo,
    views=[ROOT / "warehouse" / "views" / "afm.sql"],
    accepts=("afm_map",),
    pages=[Page("afm_maps", "AFM maps", render_page)],
)
