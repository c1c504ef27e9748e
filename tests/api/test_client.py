"""``socscope.open``: the read-only client on the small demo warehouse. Expected values come from the
warehouse's Parquet files read with pyarrow, the raw store's bytes and the campaign config — not from
the client's own SQL."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.dataset as ds
import pytest

import socscope
from warehouse.user_sql import RefusedQuery

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(demo_campaign):
    with socscope.open(demo_campaign.base_dir) as c:  # the folder, as open("demo")
        yield c


def _parquet(campaign, table: str):
    root = Path(campaign.resolve(campaign.storage.warehouse)) / "data" / table
    return ds.dataset(str(root), format="parquet", partitioning="hive").to_table()


def test_lattice_of_one_sample_has_the_parquet_values_and_units(client, demo_campaign):
    df = client.table("lattice", sample="O-1")
    direct = _parquet(demo_campaign, "sxpd_patterns")
    stored = sorted(v for v, s in zip(direct["a_angstrom"].to_pylist(), direct["sample_id"].to_pylist())
                    if s == "O-1")
    assert len(df) > 0 and set(df["sample_id"]) == {"O-1"}
    assert sorted(df["a_angstrom"]) == pytest.approx(stored)
    assert df.attrs["units"]["a_angstrom"] == direct.schema.field("a_angstrom").metadata[b"unit"].decode()
    assert df.attrs["units"]["c_angstrom"] == "angstrom"


def test_soc_narrows_by_the_samples_of_the_config(client, demo_campaign):
    at_50 = {s.id for s in demo_campaign.samples if s.soc_nominal_pct == 50}
    maps = client.table("maps", soc=50)
    assert set(maps["sample_id"]) <= at_50 and len(maps) > 0
    with pytest.raises(ValueError, match="no sample_id column"):
        client.table("param_sets", sample="C-PRI")


def test_arrow_and_polars_answers(client):
    import polars as pl

    table = client.table("cycles", as_="arrow")
    assert table.schema.field("charge_capacity_ah").metadata[b"unit"] == b"Ah"
    assert isinstance(client.table("cycles", as_="polars"), pl.DataFrame)


def test_sql_goes_through_the_user_sql_guard(client, demo_campaign):
    assert client.sql("select count(*) as n from samples").n[0] == len(demo_campaign.samples)
    assert client.sql("select sample_id from samples where soc_nominal_pct = ?", [100]).shape[0] >= 1
    with pytest.raises(RefusedQuery, match="only SELECT"):
        client.sql("copy (select 1) to 'out.csv'")
    with pytest.raises(RefusedQuery, match="Permission|disabled"):
        client.sql("select * from read_csv('/etc/passwd')")
    with pytest.raises(KeyError, match="no table or view"):
        client.table("no_such_table")


def test_lineage_leads_to_the_raw_file_by_its_bytes(client):
    row = client.table("lattice", sample="O-1").iloc[0]
    lineage = client.lineage("lattice", row["measurement_id"])
    first = lineage.iloc[0]
    assert hashlib.sha256(Path(first["store_path"]).read_bytes()).hexdigest() == first["raw_sha256"]
    assert first["reader"] == row["reader"] and first["seen_at"].endswith("/" + first["original_name"])
    assert '"alignment"' in first["params_json"]  # the parameter set's values travel with the lineage
    profile = client.table("profile").iloc[0]
    assert set(client.lineage("profile", profile["profile_key"])["sample_id"]) == {profile["sample_id"]}


def test_findings_and_status(client, demo_campaign):
    census = Path(__file__).resolve().parents[1] / "demo_small_census.tsv"
    verdicts = {line.split("\t")[1]: line.split("\t")[2] for line in census.read_text().splitlines()
                if line.startswith("finding\t")}
    found = client.findings()
    assert {f"{r.claim}:{r.check_name}": r.verdict for r in found.itertuples()} == verdicts
    status = client.status()
    expected = {(sid, t): n for sid, per in demo_campaign.expected.items() for t, n in per.items()}
    got = {(r.sample_id, r.technique): r.expected for r in status.files.itertuples() if r.expected}
    assert got == expected
    assert status.manifest_version and status.manifest_version > 0
    listing = client.tables()
    assert listing.set_index("name").loc["sxpd_patterns", "aliases"].startswith("lattice")


def test_a_cell_of_the_warehouse_goes_out_as_bdf(client, demo_campaign, tmp_path):
    import pandas as pd

    direct = _parquet(demo_campaign, "echem_series").to_pandas()
    mid = direct["measurement_id"].iloc[0]
    rows = direct[direct["measurement_id"] == mid].sort_values("record_index")
    bdf = pd.read_parquet(client.to_bdf(mid, tmp_path / "cell.bdf.parquet"))
    assert len(bdf) == len(rows)
    assert bdf["Voltage / V"].tolist() == pytest.approx(rows["voltage_v"].tolist())
    assert bdf["Test Time / s"].tolist() == pytest.approx(rows["time_s"].tolist())


def test_a_cut_answer_warns_and_says_so(demo_campaign):
    with socscope.open(demo_campaign.base_dir, max_rows=3) as small:
        with pytest.warns(UserWarning, match="cut at 3 rows"):
            frame = small.table("samples")
    assert len(frame) == 3 and frame.attrs["truncated"]
