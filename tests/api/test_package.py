"""The campaign as a Frictionless data package, checked by frictionless's own ``validate`` (rows against
each Table Schema, bytes against each sha256), and ``socscope export`` on the demo warehouse."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

import socscope
from socscope.cli import main

pytestmark = pytest.mark.slow

frictionless = pytest.importorskip("frictionless")

#: resources validated row by row here; the per-pixel tables (10^5-10^6 rows) take minutes to validate
#: on two cores and are checked by their checksum and row count instead
LARGE = {"afm_pixels", "afm_pairs"}


@pytest.fixture(scope="module")
def package(demo_campaign, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package") / "ncm622"
    with socscope.open(demo_campaign.base_dir) as client:
        return client.export_package(out)


def test_the_package_holds_every_contract_table_with_units(package):
    from warehouse.catalog import all_specs

    descriptor = json.loads(package.read_text())
    assert {r["path"] for r in descriptor["resources"]} == {f"data/{t}.csv" for t in all_specs()}
    patterns = next(r for r in descriptor["resources"] if r["name"] == "sxpd-patterns")
    assert {f["name"]: f.get("unit") for f in patterns["schema"]["fields"]}["a_angstrom"] == "angstrom"


def test_frictionless_validates_the_package(package, tmp_path):
    descriptor = json.loads(package.read_text())
    small = {**descriptor, "resources": [r for r in descriptor["resources"]
                                         if r["path"].split("/")[1][:-4] not in LARGE]}
    subset = package.with_name("subset.json")
    subset.write_text(json.dumps(small))
    report = frictionless.validate(str(subset))
    assert report.valid, report.flatten(["resource", "type", "fieldName", "note"])[:10]


def test_frictionless_catches_a_changed_byte(package, tmp_path):
    descriptor = json.loads(package.read_text())
    findings = next(r for r in descriptor["resources"] if r["name"] == "findings")
    copy = tmp_path / "findings.csv"
    data = (package.parent / findings["path"]).read_bytes()
    copy.write_bytes(data.replace(b"pass", b"fail", 1))
    report = frictionless.validate(frictionless.Resource({**findings, "path": "findings.csv"}, basepath=str(tmp_path)))
    assert not report.valid and "hash-count" in {e.type for e in report.tasks[0].errors}


def test_large_tables_match_their_checksums_and_row_counts(package, demo_campaign):
    import hashlib

    import pyarrow.csv as pcsv

    descriptor = json.loads(package.read_text())
    for resource in descriptor["resources"]:
        table = resource["path"].split("/")[1][:-4]
        if table not in LARGE:
            continue
        path = package.parent / resource["path"]
        assert resource["hash"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        stored = ds.dataset(str(Path(demo_campaign.resolve(demo_campaign.storage.warehouse)) / "data" / table),
                            format="parquet", partitioning="hive").count_rows()
        assert pcsv.read_csv(path).num_rows == stored


def test_socscope_export_commands(demo_campaign, tmp_path, capsys):
    config = str(demo_campaign.base_dir / "campaign.yaml")
    real = Path(__file__).resolve().parents[1] / "data" / "real"
    assert main(["export", "file", str(real / "afm" / "di-3.di"), str(tmp_path / "map.nc")]) == 0
    assert main(["export", "file", str(real / "afm" / "di-3.di"), str(tmp_path / "map.xye")]) == 2
    assert "diffraction patterns" in capsys.readouterr().err
    with socscope.open(config) as client:
        mid = client.sql("select measurement_id from echem_series limit 1").measurement_id[0]
    assert main(["export", "bdf", mid, str(tmp_path / "cell.bdf.csv"), "--config", config]) == 0
    assert (tmp_path / "cell.bdf.csv").read_text().startswith("Test Time / s,Voltage / V,Current / A")
    out = tmp_path / "pkg"
    assert main(["export", "package", str(out), "--config", config, "--table", "findings"]) == 0
    assert frictionless.validate(str(out / "datapackage.json")).valid
    assert main(["export", "package", str(out), "--config", config]) == 2  # not into a full folder
