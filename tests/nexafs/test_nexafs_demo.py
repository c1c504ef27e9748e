"""Demo beamtime through read -> process, references first, scored against the generator's truth."""
from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from foundation.config import load_campaign
from foundation.contract import DemoRequest, ProcessContext
from foundation.parameters import load_params
from foundation.registry import read_measurements
from tasks.nexafs.plugin import TECHNIQUE

ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp: Path, seed: int = 11) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, duckdb.DuckDBPyConnection]:
    camp = load_campaign(ROOT / "socscope/demo_campaign.yaml")
    TECHNIQUE.demo(DemoRequest(share_root=tmp / "share", truth_root=tmp / "truth", profile="small", seed=seed,
                               campaign=camp))
    params = load_params(TECHNIQUE.default_params)
    con = duckdb.connect()
    tables: dict[str, list[pd.DataFrame]] = {t.name: [] for t in TECHNIQUE.tables}

    def query(sql, params=None):
        for name, frames in tables.items():
            if frames:
                con.register(name, pd.concat(frames, ignore_index=True))
        return con.execute(sql, params).df()

    share = tmp / "share" / "nexafs"
    files = sorted(share.rglob("*.dat"), key=lambda p: (p.parent.name != "references", str(p)))
    for f in files:
        sample = None if f.parent.name == "references" else f.parent.name
        _, ms = read_measurements(f, hashlib.sha256(f.read_bytes()).hexdigest(), f.name, technique_name="nexafs")
        for m in ms:
            ctx = ProcessContext(campaign=camp, sample=camp.sample(sample), params=params, options={}, query=query)
            for name, df in TECHNIQUE.process(m, ctx).items():
                tables[name].append(df.assign(measurement_id=m.measurement_id, mode=m.mode, sample_id=sample))
    frames = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    for k, v in frames.items():
        con.register(k, v)
    con.register("sample_soc", pd.DataFrame([{"sample_id": s.id, "soc": s.soc_nominal_pct} for s in camp.samples]))
    return frames, pd.read_csv(tmp / "truth" / "nexafs" / "truth.csv"), con


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("nexafs_demo"))


def test_every_ni2_fraction_within_003_of_truth(demo_run):
    frames, truth, _ = demo_run
    f = frames["xas_features"]
    got = f[(f.edge == "Ni_L") & (f.role == "sample")]
    j = got.merge(truth[truth.edge == "Ni_L"], on=["sample_id", "mode"])
    assert len(j) == 10
    err = (j.ni2_fraction - j.ni2_fraction_true).abs()
    print("\nmax |Ni2+ - truth| =", round(err.max(), 4))
    assert err.max() <= 0.03


def test_calibration_undoes_the_per_scan_offsets(demo_run):
    frames, truth, _ = demo_run
    s = frames["xas_spectra"]
    assert set(s[s.role == "sample"].calibration_source) == {"reference_channel", "nio_scan"}
    offsets = truth.drop_duplicates("file").energy_offset_ev.abs()
    assert offsets.max() > 0.2  # the demo really shifts the scans


def test_finding_3_in_sql(demo_run):
    _, _, con = demo_run
    ni = con.execute("""select f.mode, s.soc, avg(f.ni2_fraction) as x from xas_features f
                        join sample_soc s using (sample_id) where f.edge = 'Ni_L' and f.role = 'sample'
                        group by f.mode, s.soc order by f.mode, s.soc""").df()
    for mode in ("TEY", "FY"):
        x = ni[ni["mode"] == mode].x.to_numpy()
        assert np.all(np.diff(x) < 0), f"{mode} Ni2+ fraction must fall with SOC: {x}"
    at0 = ni[ni.soc == 0].set_index("mode").x
    assert at0["TEY"] > at0["FY"] + 0.1
    ok = con.execute("""select s.soc, avg(f.ok_preedge_intensity_ev) as i from xas_features f
                        join sample_soc s using (sample_id) where f.edge = 'O_K' group by s.soc order by s.soc""").df()
    assert np.all(np.diff(ok.i.to_numpy()) > 0)


def test_demo_is_deterministic(tmp_path):
    from tasks.nexafs.demo import demo

    camp = load_campaign(ROOT / "socscope/demo_campaign.yaml")
    for d in ("a", "b"):
        demo(DemoRequest(share_root=tmp_path / d, truth_root=tmp_path / d / "t", profile="small", seed=5,
                         campaign=camp))
    a = sorted((tmp_path / "a").rglob("*.*"))
    assert a and all(p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes() for p in a)
