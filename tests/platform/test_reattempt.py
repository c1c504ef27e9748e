"""What decides a re-attempt (foundation.ledger.AttemptKey): a changed campaign setting or share option
re-attempts exactly the files it affects; an unchanged file is never tried again."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from foundation.config import load_campaign
from foundation.ledger import AttemptKey
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv


def ncm_pattern(path: Path) -> float:
    """Spec-built: an I11 xye of an NCM pattern (the sxpd synthesis, I11's header) with no wavelength in it,
    as I11 writes them; returns the wavelength it was simulated at."""
    import numpy as np

    from tasks.sxpd.demo import two_theta_axis, xye_bytes
    from tasks.sxpd.synthesis import (
        DEMO_WAVELENGTH_ANGSTROM,
        Sample,
        counts,
        ncm_profile,
    )

    x = two_theta_axis(0.004)
    y, e = counts(ncm_profile(x, Sample(2.869, 14.22, 0.05)), np.random.default_rng(7))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xye_bytes(x, y, e, {"beamline": "i11", "detector": "Mythen3", "experiment": "cm1-1",
                                         "scan_number": 1, "sample": "S1", "start_time": "2026-01-01 10:00:00",
                                         "counting_time_s": 30.0}))
    assert b"wavelength" not in path.read_bytes().lower()
    return DEMO_WAVELENGTH_ANGSTROM


@pytest.fixture
def toy_and_sxpd(monkeypatch):
    import foundation.registry as reg

    sxpd = reg.TECHNIQUE_MODULES["sxpd"]
    use_toy_registry(monkeypatch)
    monkeypatch.setitem(reg.TECHNIQUE_MODULES, "sxpd", sxpd)


def attempts(cfg: Path) -> dict[tuple[str, str], tuple]:
    """(technique, file) -> (status, attempted_at, settings_id) of every process attempt."""
    wh = pipeline.open_warehouse(load_campaign(cfg))
    ev = wh.query("select technique, original_name, status, attempted_at, settings_id from ingest_events "
                  "where stage = 'process'")
    return {(r.technique, r.original_name): (r.status, r.attempted_at, r.settings_id) for r in ev.itertuples()}


def edit(cfg: Path, change) -> None:
    data = yaml.safe_load(cfg.read_text())
    change(data)
    cfg.write_text(yaml.safe_dump(data))


def test_a_setting_fixed_in_the_config_reattempts_its_quarantined_file_only(tmp_path, toy_and_sxpd):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    wavelength = ncm_pattern(tmp_path / "xrd/S1/pattern.xye")
    edit(cfg, lambda d: d["shares"].append({**d["shares"][0], "name": "i11", "url": "xrd", "technique": "sxpd"}))

    pipeline.run_local(cfg)
    first = attempts(cfg)
    assert first[("sxpd", "pattern.xye")][0] == "quarantined" and first[("toy", "a.csv")][0] == "ok"

    pipeline.run_local(cfg)  # nothing changed: nothing is tried again
    assert attempts(cfg) == first

    edit(cfg, lambda d: d.setdefault("settings", {}).update({"sxpd": {"wavelength_angstrom": wavelength}}))
    pipeline.run_local(cfg)
    second = attempts(cfg)
    assert second[("sxpd", "pattern.xye")][0] == "ok"
    assert second[("toy", "a.csv")] == first[("toy", "a.csv")]  # another technique's setting: not re-attempted
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert wh.query("select count(*) as n from quarantine where technique = 'sxpd'").n[0] == 0
    assert wh.query("select count(*) as n from sxpd_patterns").n[0] == 1

    pipeline.run_local(cfg)
    assert attempts(cfg) == second


def test_one_shares_options_reattempt_that_shares_files_only(tmp_path, monkeypatch):
    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path, extra_share=True)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share2/S2/b.csv", [(3, 4)])
    pipeline.run_local(cfg)
    first = attempts(cfg)

    edit(cfg, lambda d: d["shares"][1].update({"reader_options": {"note": "new detector"}}))
    pipeline.run_local(cfg)
    second = attempts(cfg)
    assert second[("toy", "a.csv")] == first[("toy", "a.csv")]
    assert second[("toy", "b.csv")][1] > first[("toy", "b.csv")][1]
    assert second[("toy", "b.csv")][2] != first[("toy", "b.csv")][2]

    edit(cfg, lambda d: d["samples"][0].update({"soc_nominal_pct": 60}))  # a fact of sample S1 only
    pipeline.run_local(cfg)
    third = attempts(cfg)
    assert third[("toy", "b.csv")] == second[("toy", "b.csv")]
    assert third[("toy", "a.csv")][1] > second[("toy", "a.csv")][1]


def test_the_cache_key_follows_the_settings(tmp_path, monkeypatch):
    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path)
    before = load_campaign(cfg)
    edit(cfg, lambda d: d["shares"][0].update({"reader_options": {"note": "x"}}))
    after = load_campaign(cfg)
    keys = [AttemptKey.of(c, "toy", "aa", share="lab", sample_id="S1").cache_key("wh") for c in (before, after)]
    assert keys[0] != keys[1]
    other_sample = AttemptKey.of(before, "toy", "aa", share="lab", sample_id="S2").cache_key("wh")
    assert other_sample != keys[0]  # the sample's facts are part of what a file is read under


def test_a_mapping_fixed_in_the_config_maps_the_file_and_processes_it(tmp_path, monkeypatch):
    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/run-S1/a.csv", [(1, 2)])  # the folder is not a sample id
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert wh.query("select stage, status from quarantine").values.tolist() == [["intake", "quarantined"]]

    edit(cfg, lambda d: d["shares"][0].update({"mapping": {"path_pattern": "^run-(?P<sample>[^/]+)/"}}))
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert len(wh.query("select * from quarantine")) == 0
    assert wh.query("select sample_id from raw_files").sample_id.tolist() == ["S1"]
    assert wh.query("select sample_id from toy_values").sample_id.tolist() == ["S1"]
