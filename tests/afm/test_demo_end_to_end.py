"""Demo (small profile): independent readback, determinism, segmentation IoU, SQL trends, pairs."""
from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from foundation.config import load_campaign
from foundation.contract import DemoRequest, FinalizeContext, ProcessContext, collect_pieces
from foundation.parameters import load_params
from foundation.registry import read_measurements
from tasks.afm.demo import demo
from tasks.afm.process import finalize, process
from tasks.afm.scoring import iou, truth_labels
from tasks.demo_world import MISLABELLED_SOC_PCT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    campaign = load_campaign(ROOT / "socscope" / "demo_campaign.yaml")
    root = tmp_path_factory.mktemp("afm-demo")
    demo(DemoRequest(share_root=root / "share", truth_root=root / "truth", profile="small", seed=622, campaign=campaign))
    return root, campaign


def test_demo_is_deterministic_and_readable_independently(demo_dir, tmp_path):
    import pySPM
    from igor2 import binarywave

    root, campaign = demo_dir
    demo(DemoRequest(share_root=tmp_path / "share", truth_root=tmp_path / "truth", profile="small", seed=622,
                     campaign=campaign))
    files = sorted(p.relative_to(root / "share") for p in (root / "share").rglob("*") if p.is_file())
    assert files and all(hashlib.sha256((root / "share" / f).read_bytes()).digest()
                         == hashlib.sha256((tmp_path / "share" / f).read_bytes()).digest() for f in files)
    ibw = root / "share/afm/C-F0/C-F0_loc01_esm.ibw"
    wave = binarywave.load(str(ibw))["wave"]
    assert wave["wData"].shape == (128, 128, 6) and b"DFRTFrequencyWidth: 10000" in wave["note"]
    spm = root / "share/afm/P-DC0/P-DC0_loc01_cafm.spm"
    cur = np.asarray(pySPM.Bruker(str(spm)).get_channel("TUNA Current", backward=True).pixels)
    assert cur.shape == (256, 256) and 0.2 < cur.mean() < 5  # pA, polished particle current levels
    assert not (root / "share" / "afm" / "truth").exists() and (root / "truth" / "afm").is_dir()


@pytest.mark.slow
def test_demo_pipeline_meets_acceptance(demo_dir):
    root, campaign = demo_dir
    params = load_params(ROOT / "tasks/afm/params/default.yaml")
    options = next(s for s in campaign.shares if s.technique == "afm").reader_options
    tables: dict[str, list[pd.DataFrame]] = {}
    ious = []
    for path in sorted((root / "share" / "afm").rglob("*")):
        if path.suffix not in (".ibw", ".spm"):
            continue
        sample = campaign.sample(path.parent.name)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        _, (m,) = read_measurements(path, sha, f"{sample.id}/{path.name}", technique_name="afm", options=options)
        frames = process(m, ProcessContext(campaign=campaign, sample=sample, params=params, options=options,
                                           query=lambda sql, params=None: None))
        keys = {"sample_id": sample.id, "mode": m.mode, "measurement_id": m.measurement_id, "raw_sha256": sha,
                "params_id": params.id}
        for name, df in frames.items():
            tables.setdefault(name, []).append(df.assign(**keys))
        labels = frames["afm_pixels"]["particle_id"].to_numpy().reshape(int(frames["afm_maps"].n_y_px[0]), -1)
        ious.append(iou(labels, truth_labels(root / "truth", sample.id, path.name)))
    assert np.median(ious) >= 0.85, ious
    maps = pd.concat(tables["afm_maps"], ignore_index=True)
    # the demo's drives and Qs come from its files, and its particles are real: nothing defaulted or implausible,
    # except the plain PFM map of the mislabelled sample, written without a Q source (the warnings demo)
    planted = maps["sample_id"].isin(list(MISLABELLED_SOC_PCT))
    assert planted.sum() == len(MISLABELLED_SOC_PCT)
    assert (maps.loc[planted, "quality_flags"] == "esm_not_computed_no_q_source").all(), maps["quality_flags"]
    assert (maps.loc[planted, "drive_amplitude_v"] == 1.0).all() and maps.loc[planted, "q_source"].isna().all()
    assert set(maps["mode"]) == {"ESM", "CAFM"} and (maps.loc[~planted, "quality_flags"] == "").all(), maps["quality_flags"]
    assert (maps["segmentation_class_contrast"] > 1).all() and (maps["largest_segment_fraction"] < 0.8).all()
    con = duckdb.connect()
    for name, parts in tables.items():
        con.register(name, pd.concat(parts, ignore_index=True))
    con.register("samples", pd.DataFrame([s.model_dump() for s in campaign.samples]).rename(columns={"id": "sample_id"}))
    con.execute(open(ROOT / "warehouse/views/afm.sql").read())
    t = con.execute("select * from afm_sample_trends order by series, soc_nominal_pct").df().set_index("sample_id")
    # cumulative charge branch: 0 % (after formation) > 50 % > 100 %; polished 0 > 50 > 100
    for series in (["C-F0", "C-CH50", "C-CH100"], ["P-DC0", "P-DC50", "P-CH100"]):
        esm = t.loc[series, "esm_mean_pm_per_v"].to_numpy()
        cur = t.loc[series, "current_mean_pa"].to_numpy()
        assert esm[0] > esm[1] > esm[2], esm
        assert cur[0] > cur[1] > cur[2], cur
        rim = t.loc[series, "esm_rim_core_ratio"].to_numpy()
        assert rim[0] > rim[2], rim
    assert t.loc["C-PRI", "esm_mean_pm_per_v"] > t.loc["C-F0", "esm_mean_pm_per_v"]
    query = lambda sql, params=None: con.execute(sql, params).df()  # noqa: E731
    out = collect_pieces(finalize(FinalizeContext(campaign=campaign, params=params, query=query)))
    reg = out["afm_registrations"]
    assert len(reg) == 9 and reg["quality_ok"].all()
    assert len(out["afm_pairs"]) > 0
