"""The AFM technique plugin: readers, tables, parameters, process/finalize and the demo."""
from __future__ import annotations

from pathlib import Path

from foundation.contract import Page, Technique
from schemas.afm import TABLES
from tasks.afm.gwy_reader import GwyddionReader
from tasks.afm.ibw_reader import AsylumIbwReader
from tasks.afm.nanoscope_reader import NanoscopeReader
from tasks.afm.page import render as render_page
from tasks.afm.page_pixels import render as render_pixels
from tasks.afm.parameters import AfmParameters

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FEATURES = ROOT / "warehouse" / "marts" / "features" / "afm.yaml"  # its soc_profile features

QUALITY_CHECKS = {  # name -> SQL yielding subject, passed, value, unit, detail (warehouse/quality.py)
    "afm_registration_ok": """
        select pair_id, quality_ok, peak_correlation, '1',
               'shift ' || round(shift_x_px, 2) || ', ' || round(shift_y_px, 2) || ' px; overlap ' || round(overlap_fraction, 3)
        from current_afm_registrations""",
    "afm_flattening_roughness": """
        select measurement_id, roughness_rms_nm is not null and roughness_rms_nm < 50, roughness_rms_nm, 'nm',
               'residual rms roughness of the flattened matrix'
        from current_afm_maps""",
}

WARNINGS = {  # code -> SQL yielding sample_id, raw_sha256, subject, message (warehouse/warnings.py)
    "esm_uncorrected": """
        select sample_id, raw_sha256, measurement_id,
               'ESM map without a proper amplitude correction (' || quality_flags || '; drive '
               || coalesce(drive_amplitude_v || ' V', 'unknown') || ', Q from ' || coalesce(q_source, 'nowhere')
               || '): pm/V is missing or rests on a default; give the lock-in sidecar or esm.contact_q'
        from current_afm_maps
        where mode = 'ESM' and regexp_matches(quality_flags, 'esm_not_computed|esm_q_from_config_default|dart_sideband_width_from_config')""",
    "segmentation_implausible": """
        select sample_id, raw_sha256, measurement_id,
               'particle segmentation is implausible (' || quality_flags || '): particle and rim/core '
               || 'features of this map are unreliable; check the map or the segmentation parameters'
        from current_afm_maps where contains(quality_flags, 'segmentation_')""",
}


def process(m, ctx):
    """tasks.afm.process.process, imported on the first map: its image stack (scipy.ndimage, scikit-image)
    costs about a second, which a command that only loads the campaign (a no-op re-run) never pays."""
    from tasks.afm.process import process as run

    return run(m, ctx)


def finalize(ctx):
    from tasks.afm.process import finalize as run

    return run(ctx)


def demo(request):
    from tasks.afm.demo import demo as run

    return run(request)


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
    checks=QUALITY_CHECKS,
    warnings=WARNINGS,
    features=FEATURES,
    accepts=("afm_map",),
    pages=[Page("afm_maps", "AFM maps", render_page), Page("afm_pixels", "ESM × C-AFM pixels", render_pixels)],
    worker_imports=("tasks.afm.process", "scipy.spatial", "skimage.measure", "skimage.morphology", "skimage.util"),
)
