"""`socscope verify`: a clean warehouse passes; a data file rewritten behind the platform's back, a
deleted or changed raw file and a deleted data file are each found, and the command exits non-zero."""
from __future__ import annotations

import json
import os
import stat

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from socscope.cli import main
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv
from warehouse.verify import verify_warehouse


@pytest.fixture
def toy(tmp_path, monkeypatch):
    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path)
    for sample in ("S1", "S2"):
        write_csv(tmp_path / "share" / sample / "a.csv", [(1, 2.0), (2, 3.0), (3, float(sample[1]))])
    write_csv(tmp_path / "share" / "S1" / "b.csv", [(1, 5.0), (2, 6.0)])
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(pipeline.load_campaign(cfg))
    return cfg, wh


def _verify(cfg, capsys) -> tuple[int, str]:
    code = main(["verify", "--config", str(cfg)])
    return code, capsys.readouterr().out


def _data_file(wh, table: str) -> str:
    return wh._abs(wh.manifest().tables[table][0].path)


def test_a_clean_warehouse_passes(toy, capsys):
    cfg, wh = toy
    code, out = _verify(cfg, capsys)
    assert code == 0, out
    assert out.startswith("ok: 0 errors, 0 warnings")
    report = verify_warehouse(wh, str(cfg.parent / "raw"))
    assert report.checked["raw_files"] == 3 and report.checked["data_files"] > 5


def test_a_data_file_rewritten_behind_our_back_is_found(toy, capsys):
    cfg, wh = toy
    path = _data_file(wh, "toy_values")
    table = pq.read_table(path)  # the same rows and schema, one value changed: only the checksum can tell
    table = table.set_column(table.schema.get_field_index("y_v"), "y_v", pc.multiply(table["y_v"], 10.0))
    pq.write_table(table, path)
    code, out = _verify(cfg, capsys)
    assert code == 1
    assert "changed after it was written" in out and os.path.relpath(path, wh.root) in out


def test_a_data_file_with_other_rows_or_deleted_is_found(toy, capsys):
    cfg, wh = toy
    entries = wh.manifest().tables["toy_values"]
    shorter = pq.read_table(wh._abs(entries[0].path)).slice(0, 1)
    pq.write_table(shorter, wh._abs(entries[0].path))
    os.remove(wh._abs(entries[1].path))
    code, out = _verify(cfg, capsys)
    assert code == 1
    assert f"{entries[1].path} (table toy_values" in out and "is missing" in out
    assert "changed after it was written" in out
    assert "view toy_values reads 1 missing files" in out  # the catalog would fail its readers


def test_a_deleted_or_changed_raw_file_is_found(toy, capsys):
    cfg, wh = toy
    raw = wh.query("select raw_sha256, store_path from raw_files order by 1")
    os.remove(raw.store_path.iloc[0])
    changed = raw.store_path.iloc[1]
    os.chmod(changed, stat.S_IWUSR | stat.S_IRUSR)
    with open(changed, "ab") as fh:
        fh.write(b"1,1\n")
    code, out = _verify(cfg, capsys)
    assert code == 1
    assert f"raw file {raw.store_path.iloc[0]}" in out and "is missing from the raw store" in out
    assert f"raw file {changed} does not hash to its sha256" in out


def test_a_manifest_without_checksums_gives_a_warning_not_an_error(toy, capsys):
    cfg, wh = toy
    for path in [wh._abs("MANIFEST.json"), *wh.fs.glob(wh._abs("manifests/*.json"))]:
        data = json.loads(open(path).read())
        for entries in data["tables"].values():
            for e in entries:
                e.pop("sha256", None)
        with open(path, "w") as fh:
            json.dump(data, fh, indent=1)
    code, out = _verify(cfg, capsys)
    assert code == 0, out
    assert "no checksum recorded" in out and "1 warnings" in out


def test_checksums_are_of_the_bytes_on_disk(toy):
    import hashlib

    cfg, wh = toy
    for entries in wh.manifest().tables.values():
        for e in entries:
            assert e.sha256 == hashlib.sha256(open(wh._abs(e.path), "rb").read()).hexdigest()
            assert pq.ParquetFile(wh._abs(e.path)).metadata.num_rows == e.rows
