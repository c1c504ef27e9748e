"""Scan logs (spec-built from tasks/sxpd/scan_log_parse.py): header variants, time forms, zones, errors,
and pattern times taken from them in process (no time in the pattern file)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from foundation.contract import ProcessContext, Provenance, UnreadableFile
from foundation.parameters import load_params
from foundation.registry import technique
from schemas.core import conform
from tasks.sxpd import scan_log
from tasks.sxpd.demo import xye_bytes

PLUGIN = technique("sxpd")
SPECS = {s.name: s for s in PLUGIN.tables}
PARAMS = load_params(PLUGIN.default_params)
READER = {r.name: r for r in PLUGIN.readers}["sxpd-scan-log"]


def _read(tmp_path: Path, text: str, options=None, name="scanlog.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert READER.sniff(text.encode()[:65536], name)
    return READER.read(path, options or {})


def _rows(m, options=None, settings=None) -> pd.DataFrame:
    return scan_log.log_rows(m.data, options or {}, settings or {"timezone": "Europe/London"})


@pytest.mark.parametrize("text", [
    "scan,file,start_time\n1500001,i11-1500001.xye,2026-05-04T09:00:00+01:00\n",
    "Scan No; File Name; Start Time\n1500001; i11-1500001.xye; 2026-05-04 08:00:00Z\n",
    "# written by GDA\nscan #\tdatetime\n1500001\t2026-05-04T10:00:00+02:00\n",
    "run,date,time,timezone\n1500001,04/05/2026,09:00:00,Europe/London\n1500002,13/05/2026,09:00:00,Europe/London\n",
    "# timezone: Europe/London\nfilename,timestamp\ni11-1500001.xye,Mon May  4 09:00:00 2026\n",
    "# time zone = Europe/London\nentry,start\n1500001,04-May-2026 09:00:00\n",
])
def test_header_variants_and_time_forms_give_the_same_utc_start(tmp_path, text) -> None:
    rows = _rows(_read(tmp_path, text))
    # hand value: 09:00 BST (UTC+1) on 4 May 2026 is 08:00 UTC
    assert rows["start_time"].iloc[0] == pd.Timestamp("2026-05-04T08:00:00", tz="UTC")
    assert rows["time_zone_source"].iloc[0] == "stated in the log"
    assert rows["file_name"].iloc[0] == "i11-1500001.xye" or rows["scan_number"].iloc[0] == 1500001


def test_naive_times_take_the_campaign_zone_and_say_it_is_assumed(tmp_path) -> None:
    m = _read(tmp_path, "scan,start_time\n7,2026-01-10 12:00:00\n")
    rows = _rows(m, settings={"timezone": "America/New_York"})
    assert rows["start_time"].iloc[0] == pd.Timestamp("2026-01-10T17:00:00", tz="UTC")  # EST = UTC-5
    assert rows["time_zone_source"].iloc[0].startswith("assumed")
    rows = _rows(m, options={"scan_log_timezone": "UTC"})
    assert rows["start_time"].iloc[0] == pd.Timestamp("2026-01-10T12:00:00", tz="UTC")
    when, flags = scan_log.lookup(rows, "i11-7.xye", 7, 30.0)
    assert when == pd.Timestamp("2026-01-10T12:00:15", tz="UTC")  # mid-exposure
    assert flags and "share option" in flags[0]


@pytest.mark.parametrize("text, words", [
    ("scan,start_time\n1,2026-05-04 09:00:00\n2,yesterday\n", ["row 2", "'yesterday'"]),
    ("scan,start_time\n1,2026-05-04 09:00:00+01:00\n2,2026-05-04 09:01:00\n", ["row 2", "offset"]),
    ("scan,start_time\n1,04/05/2026 09:00:00\n", ["day/month", "scan_log_date_order"]),
    ("scan,file,start_time\n1,a.xye,2026-05-04 09:00:00\n,,2026-05-04 09:01:00\n", ["row 2", "neither"]),
    ("scan,start_time\nx12y,2026-05-04 09:00:00\n", ["row 1", "scan number"]),
    ("scan,start_time,tz\n1,2026-05-04 09:00:00,Mars/Olympus\n", ["row 1", "IANA"]),
])
def test_a_log_that_does_not_parse_names_the_row(tmp_path, text, words) -> None:
    with pytest.raises(UnreadableFile) as err:
        _read(tmp_path, text)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_ambiguous_slash_dates_follow_the_share_option(tmp_path) -> None:
    m = _read(tmp_path, "scan,start_time\n1,04/05/2026 09:00\n", {"scan_log_date_order": "mdy"})
    assert _rows(m, options={"scan_log_timezone": "UTC"})["start_time"].iloc[0] == pd.Timestamp("2026-04-05T09:00", tz="UTC")


def test_scan_log_reader_conforms(tmp_path) -> None:
    from tasks.testing import assert_reader_conforms

    path = tmp_path / "i11_scanlog.csv"
    path.write_text("# timezone: Europe/London\nscan,file,start_time\n1,a.xye,2026-05-04 09:00:00\n")
    assert assert_reader_conforms(READER, path)


def test_refinement_tables_are_not_scan_logs() -> None:
    assert not READER.sniff(b"pattern,a,c\nx.xye,2.87,14.2\n", "fullprof.csv")
    assert not READER.sniff(b"scan,a,c,time\n1,2.87,14.2,2026-05-04\n", "t.csv")


@pytest.mark.parametrize("name, scan", [("i11-1700001_L-1.xye", 1700001), ("1410696_summed_mythen3.xye", 1410696),
                                        ("LFP_2024-05-03_scan12.xye", 12), ("LFP_2024-05-03.xye", None),
                                        ("cell4_pattern_0042.xye", None)])
def test_scan_numbers_are_read_from_names_only_where_the_name_says(name, scan) -> None:
    assert scan_log.scan_of(name) == scan


def test_declared_and_default_scan_log_names() -> None:
    assert scan_log.is_scan_log("references/i11_scanlog.csv", {})
    assert not scan_log.is_scan_log("L-1/fullprof_L-1.csv", {})
    assert scan_log.is_scan_log("beamtime/times.csv", {"scan_log": "*/times.csv"})
    assert scan_log.is_scan_log("times.csv", {"scan_log": ["times.csv", "other.csv"]})


def _ctx(frames: dict[str, pd.DataFrame], sample=None) -> ProcessContext:
    def query(sql, params=None):
        con = duckdb.connect(":memory:")
        for name, df in frames.items():
            con.register(name, df)
        return con.execute(sql, params).df()
    return ProcessContext(campaign=None, sample=sample, params=PARAMS,
                          options={"wavelength_angstrom": 0.49}, query=query)


def test_pattern_without_a_time_takes_its_log_row_or_stays_null_with_a_flag(tmp_path) -> None:
    """A pattern file with no time: its scan-log row gives measured_at; with no row, null + flag."""
    log = _rows(_read(tmp_path, "# timezone: UTC\nscan,file,start_time\n1500001,i11-1500001_L-1.xye,"
                                "2026-05-04 09:00:00\n"))
    conform(SPECS["sxpd_scan_log"], log.assign(campaign="d", sample_id=None, technique="sxpd", mode=None,
                                               measurement_id="m", raw_sha256="0" * 64, reader="r@1",
                                               params_id=PARAMS.id, flow_run_id=None,
                                               processed_at=pd.Timestamp("2026-01-01", tz="UTC")))
    x = np.linspace(2, 20, 50)
    path = tmp_path / "i11-1500001_L-1.xye"
    path.write_bytes(xye_bytes(x, np.ones_like(x) * 100, np.ones_like(x) * 10, {"counting_time_s": 30.0}))
    reader = {r.name: r for r in PLUGIN.readers}["i11-xye"]
    m = reader.read(path, {})
    m.provenance = Provenance(hashlib.sha256(path.read_bytes()).hexdigest(), reader.id, path.name)
    from tasks.sxpd.plugin import pattern_time

    when, flags = pattern_time(m, _ctx({"sxpd_scan_log": log}))
    assert when == pd.Timestamp("2026-05-04T09:00:15", tz="UTC") and flags == []
    m.provenance = Provenance(m.provenance.raw_sha256, reader.id, "i11-1500099_L-1.xye")
    when, flags = pattern_time(m, _ctx({"sxpd_scan_log": log}))
    assert when is None and "in no scan-log row" in flags[0]


def test_scan_logs_are_committed_before_references_and_patterns(monkeypatch) -> None:
    """process_items: files marked first (a scan log) go in their own commit before the standard and the patterns."""
    from types import SimpleNamespace

    from tasks import pipeline

    commits: list[list[str]] = []
    monkeypatch.setattr(pipeline, "commit_results", lambda wh, results, run: commits.append([r.name for r in results]))

    def run_files(part):
        return [[SimpleNamespace(name=w.original_name, event=SimpleNamespace(rows_written=0, status="ok",
                                                                           original_name=w.original_name, reason=""))
                 for w in part]]

    def item(name, sample, first=False):
        return pipeline.WorkItem("0" * 64, "sxpd", sample, None, name, "x", "i11", f"{sample or 'references'}/{name}",
                                 first)

    todo = [item("p1.xye", "L-1"), item("si.xye", None), item("i11_scanlog.csv", "L-1", first=True)]
    warehouse = SimpleNamespace(manifest_key=lambda: (1, "t"))  # commits are recorded above, not made
    pipeline.process_items(warehouse, "sxpd", todo, None, run_files, pipeline.ProcessSummary())
    assert commits == [["i11_scanlog.csv"], ["si.xye"], ["p1.xye"]]
    assert PLUGIN.process_first("L-1/i11_scanlog.csv", {}) and not PLUGIN.process_first("L-1/p1.xye", {})
