"""The per-file write path (stamp_frame -> conform -> Parquet) builds its columns without per-value
Python objects (tasks.pipeline._repeated, schemas.core._to_arrow). These tests hold it to the plain
construction it replaced: the same frames, the same Parquet bytes, and validation that still rejects
each defect (the vectorised pre-check and pandera agree on every frame)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.core import Column, ContractViolation, TableSpec, _certainly_valid, _pandera_schema, conform
from tasks import pipeline
from warehouse.store import Warehouse

WHEN = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
LINEAGE = dict(campaign="c", technique_name="afm", sample_id="S1", mode="ESM", measurement_id="ab" * 32,
               raw_sha256="ab" * 32, reader="afm-asylum-ibw@3", params_id="afm-default@1#x", flow_run_id=None,
               processed_at=WHEN)


def plain_stamp(df: pd.DataFrame, **kw) -> pd.DataFrame:
    """The stamping as it was written before: every constant column a Python list, as pandas infers it."""
    values = {"campaign": kw["campaign"], "sample_id": kw["sample_id"], "technique": kw["technique_name"],
              "mode": kw["mode"], "measurement_id": kw["measurement_id"], "raw_sha256": kw["raw_sha256"],
              "reader": kw["reader"], "params_id": kw["params_id"], "flow_run_id": kw["flow_run_id"],
              "processed_at": kw["processed_at"]}
    return pd.concat([df, pd.DataFrame({c: [v] * len(df) for c, v in values.items()}, index=df.index)], axis=1)


@pytest.mark.parametrize("value", ["ab" * 32, "", "é€ text", None, WHEN, datetime(2026, 1, 1), 3, 2.5, True])
@pytest.mark.parametrize("n", [0, 1, 7, 5000])
def test_repeated_column_is_the_list_pandas_would_build(value, n):
    pd.testing.assert_frame_equal(pd.DataFrame({"c": pipeline._repeated(value, n)}), pd.DataFrame({"c": [value] * n}))


@pytest.fixture(scope="module")
def afm_frames(real):
    """The tables of a real Asylum PFM map (256x256x4, tests/data/real/MANIFEST.md) as process() returns them."""
    from foundation.contract import ProcessContext
    from foundation.registry import load_params, read_measurements
    from tasks.afm.process import process

    path = real / "afm" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"
    params = load_params(Path(pipeline.__file__).parent / "afm/params/default.yaml")
    _, (m,) = read_measurements(path, "ab" * 32, path.name, technique_name="afm")
    frames = process(m, ProcessContext(campaign=None, sample=None, params=params, options={}, query=lambda sql: None))
    assert isinstance(frames["afm_pixels"]["region"].dtype, pd.CategoricalDtype)  # the route under test
    return frames


def test_stamped_frames_equal_the_plain_construction(afm_frames):
    for name, df in afm_frames.items():
        pd.testing.assert_frame_equal(pipeline.stamp_frame(df, **LINEAGE), plain_stamp(df, **LINEAGE), obj=name)


def test_written_parquet_is_byte_identical_to_the_plain_path(afm_frames, tmp_path):
    """Old path: list-built lineage columns and one ``pa.Table.from_pandas`` with the declared schema.
    New path: stamp_frame + conform. Same bytes, so the same values, types, units and metadata."""
    from schemas.afm import TABLES

    wh = Warehouse(str(tmp_path / "wh"))
    specs = {s.name: s for s in TABLES}
    for name, df in afm_frames.items():
        spec = specs[name]
        old = pa.Table.from_pandas(plain_stamp(df, **LINEAGE)[spec.column_names], schema=spec.arrow_schema(),
                                   preserve_index=False, safe=False)
        new = conform(spec, pipeline.stamp_frame(df, **LINEAGE))
        assert new.equals(old, check_metadata=True), name
        assert wh.write_parquet(new, f"data/{name}/new.parquet") == wh.write_parquet(old, f"data/{name}/old.parquet")
    back = pq.read_table(tmp_path / "wh/data/afm_pixels/new.parquet")
    assert back.schema.field("esm_amp_pm_per_v").metadata[b"unit"] == b"pm/V"
    assert back.schema.field("region").type == pa.string() and back.column("region").null_count == 0
    assert set(back.column("region").to_pylist()) <= {"rim", "core", "matrix"}


SPEC = TableSpec(name="toy_pixels", grain="pixel", key=("pixel",), columns=(
    Column("pixel", "int32", "1", nullable=False),
    Column("x_um", "float32", "um", nullable=False, checks=(("ge", 0),)),
    Column("fraction", "float64", "1", checks=(("between", (0, 1)),)),
    Column("region", "string", "", nullable=False, checks=(("isin", ["rim", "core", "matrix"]),)),
))


def toy_frame(n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"pixel": np.arange(n, dtype=np.int32), "x_um": rng.uniform(0, 5, n).astype(np.float32),
                       "fraction": rng.uniform(0, 1, n),
                       "region": pd.Categorical.from_codes(rng.integers(0, 3, n), ["rim", "core", "matrix"])})
    df.loc[::7, "fraction"] = np.nan  # nullable: allowed
    return pipeline.stamp_frame(df, **LINEAGE)


def _defects() -> dict[str, tuple[pd.DataFrame, str]]:
    """Each defect, with the column pandera must name."""
    base = toy_frame()
    rim = base.region.cat.add_categories("edge")
    return {
        "null in a non-null column": (base.assign(x_um=base.x_um.where(base.index != 123)), "x_um"),
        "null category in a non-null column": (base.assign(region=base.region.where(base.index != 5)), "region"),
        "null lineage": (base.assign(params_id=base.params_id.where(base.index != 9)), "params_id"),
        "below a bound": (base.assign(x_um=base.x_um.where(base.index != 10, -1.0)), "x_um"),
        "outside a range": (base.assign(fraction=base.fraction.where(base.index != 11, 1.5)), "fraction"),
        "not one of the values": (base.assign(region=rim.where(base.index != 12, "edge")), "region"),
        "duplicate key": (base.assign(pixel=base.pixel.where(base.index != 13, 14)), "pixel"),
    }


@pytest.mark.parametrize("defect", list(_defects()))
def test_pre_check_and_pandera_agree_and_conform_rejects(defect):
    import pandera.errors as pe

    df, column = _defects()[defect]
    df = df[SPEC.column_names]
    assert not _certainly_valid(SPEC, df)
    with pytest.raises(pe.SchemaErrors) as caught:
        _pandera_schema(SPEC).validate(df, lazy=True)
    assert column in set(caught.value.failure_cases["column"].astype(str))
    with pytest.raises(ContractViolation, match=f"(?s)table 'toy_pixels' failed .*- {column}: "):
        conform(SPEC, df)


def test_a_valid_frame_passes_both_checks():
    df = toy_frame()[SPEC.column_names]
    assert _certainly_valid(SPEC, df)
    _pandera_schema(SPEC).validate(df, lazy=True)
    assert conform(SPEC, df).num_rows == len(df)


@pytest.mark.parametrize("change, words", [
    (lambda df: df.drop(columns=["fraction"]), r"columns missing \['fraction'\]"),
    (lambda df: df.assign(pixel=[f"p{i}" for i in range(len(df))]), "cannot cast to its declared types"),
    (lambda df: df.assign(pixel=pd.Categorical([f"p{i}" for i in range(len(df))])), "cannot cast to its declared types"),
    (lambda df: df.assign(region=df.region.cat.rename_categories([1, 2, 3])), "region: 4000 values not one of"),
    (lambda df: df.assign(x_um=pd.Categorical(["a"] * len(df))), "x_um: 1 value below 0"),
    (lambda df: df.assign(fraction="high"), r"fraction: 1 value outside \[0, 1\]"),
])
def test_missing_columns_and_wrong_types_are_refused(change, words):
    with pytest.raises(ContractViolation, match=words):
        conform(SPEC, change(toy_frame()))


def test_the_afm_benchmark_validates_every_table_it_writes(tmp_path):
    """bench/afm.py times the production write (issue 22, honest benchmarks): a defect in the pixel table
    stops its store as it stops the pipeline, and every table process() returns is written."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("afm_bench", Path(pipeline.__file__).parents[1] / "bench/afm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (path,) = bench.make_files(tmp_path, 1, 128)
    pipe = bench.Pipeline(tmp_path)
    reader, m, frames = pipe.compute(0, path)
    lineage = pipe.lineage(0, reader, m)
    broken = dict(frames, afm_pixels=frames["afm_pixels"].assign(x_um=np.float32(np.nan)))
    with pytest.raises(ContractViolation, match="afm_pixels"):
        pipe.store(0, broken, lineage)
    pipe.store(0, frames, lineage)
    written = {p.relative_to(tmp_path / "ours/data").parts[0] for p in (tmp_path / "ours/data").rglob("*.parquet")}
    assert written == set(frames) and "afm_pixels" in written
