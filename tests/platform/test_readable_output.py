"""What a person reads: contract failures in words, tables that cut nothing, progress per stage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foundation.progress import listening
from schemas.core import CHECKS, Column, ContractViolation, TableSpec, conform
from schemas.failures import _FAILED_CHECK
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

SPEC = TableSpec(name="cycles", grain="one record", measurement=False, key=("record",), columns=(
    Column("record", "string", description="record id", nullable=False),
    Column("current_a", "float64", "A", "current", nullable=False),
    Column("voltage_v", "float64", "V", "voltage", checks=(("between", (0.0, 5.0)),)),
))


def frame(n: int = 6000) -> pd.DataFrame:
    return pd.DataFrame({"record": pd.array([str(i) for i in range(n)], dtype="string"),
                         "current_a": np.ones(n), "voltage_v": np.full(n, 3.7)})


def failure_lines(df: pd.DataFrame) -> list[str]:
    with pytest.raises(ContractViolation) as caught:
        conform(SPEC, df)
    head, *lines = str(caught.value).split("\n")
    assert head == f"table 'cycles' failed {len(lines)} check{'s' if len(lines) > 1 else ''}:"
    return lines


def test_each_failed_check_is_one_line_in_words():
    df = frame()
    df.loc[5540, "current_a"] = np.nan
    df.loc[[3, 4], "voltage_v"] = [9.0, -1.0]
    df.loc[5, "record"] = "4"
    lines = failure_lines(df)
    assert len(lines) == 3
    assert "- current_a: 1 null at row 5540 — a blank line or an empty cell in the file?" in lines
    assert "- voltage_v: 2 values outside [0.0, 5.0]: 9.0 at row 3, -1.0 at row 4 — " in "".join(lines)
    assert any(line.startswith("- record: 2 rows share a key value (record = '4', at rows 4, 5)") for line in lines)
    assert not any("{" in line or "schema_context" in line for line in lines)  # no pandera dictionary


def test_many_failures_show_the_first_rows_and_count_the_rest():
    df = frame()
    df.loc[10:29, "voltage_v"] = 7.5
    (line,) = failure_lines(df)
    assert line.startswith("- voltage_v: 20 values outside [0.0, 5.0]: 7.5 at row 10, 7.5 at row 11, 7.5 at row 12 "
                           "(and 17 more)")


def test_every_declared_check_kind_has_words():
    assert set(_FAILED_CHECK) == set(CHECKS)


@pytest.fixture
def wide_reason():
    return ("wavelength unknown: the file carries no wavelength and no calibration covers beamtime ee12345; "
            "set settings.sxpd.wavelength_angstrom in /data/campaigns/ncm811-operando/campaign.yaml then re-run\n"
            "second line: current_a: 1 null at row 5540")


def test_a_table_at_80_columns_cuts_no_word(monkeypatch, capsys, wide_reason):
    from socscope.cli import _print_table

    monkeypatch.setenv("COLUMNS", "80")
    name = "O-1/operando_pattern_000123_with_a_long_suffix.xye"
    _print_table([("sxpd", name, "read", wide_reason)], ["technique", "file", "stage", "reason"], title="quarantine")
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    body = "".join(out.split())
    for value in (name, wide_reason):  # every character of every value, in order (folded lines interleave)
        assert is_subsequence("".join(value.split()), body), value


def is_subsequence(needle: str, haystack: str) -> bool:
    rest = iter(haystack)
    return all(ch in rest for ch in needle)


def test_a_table_too_wide_for_the_terminal_becomes_one_block_per_row(monkeypatch, capsys):
    from socscope.cli import _print_table

    monkeypatch.setenv("COLUMNS", "60")
    columns = ["sample", "technique", "expected", "received", "processed", "quarantined", "ignored", "verdict"]
    _print_table([("C-CH50X", "afm", 1, 1, 0, 1, 0, "quarantined")], columns, title="status")
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert [line.split() for line in lines if line.strip()][1:] == [
        ["sample", "C-CH50X"], ["technique", "afm"], ["expected", "1"], ["received", "1"], ["processed", "0"],
        ["quarantined", "1"], ["ignored", "0"], ["verdict", "quarantined"]]


def test_a_file_name_with_a_line_break_stays_one_line(monkeypatch, capsys):
    from socscope.cli import _print_table

    monkeypatch.setenv("COLUMNS", "120")
    _print_table([("toy", "evil\nname.csv", "two\nlines")], ["technique", "file", "reason"])
    rows = [line for line in capsys.readouterr().out.splitlines() if "evil" in line or "lines" in line]
    assert len(rows) == 2 and "evil\\nname.csv" in rows[0]  # the name escaped, the reason's break kept


class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, int, int, str]] = []

    def __call__(self, label, done, total, current=""):
        self.calls.append((label, done, total, current))

    def last(self, label):
        return [c for c in self.calls if c[0] == label][-1]


def test_every_stage_reports_counts_and_its_current_item(monkeypatch, tmp_path):
    from foundation.config import load_campaign
    from foundation.progress import announce
    from tasks import pipeline
    from warehouse.marts import MART_STEPS, build_marts

    use_toy_registry(monkeypatch)
    cfg = toy_campaign(tmp_path)
    for i in range(3):
        write_csv(tmp_path / f"share/S1/f{i}.csv", [(i, i + 1)])
    recorder = Recorder()
    campaign = load_campaign(cfg)
    with listening(recorder):
        pipeline.run_local(campaign, progress=announce)
        build_marts(campaign, pipeline.open_warehouse(campaign), "local", progress=announce)
    assert recorder.last("intake")[1:3] == (3, 3) and recorder.last("intake")[3].startswith("S1/f")
    assert recorder.last("process toy")[1:3] == (3, 3) and recorder.last("process toy")[3].endswith(".csv")
    marts = [c for c in recorder.calls if c[0] == "marts"]
    assert marts[-1][1:3] == (len(MART_STEPS), len(MART_STEPS))
    assert [c[3] for c in marts[1:]] == list(MART_STEPS)
    recorder.calls.clear()
    pipeline.run_local(campaign, progress=announce)  # nobody listens any more
    assert recorder.calls == []


def test_a_broken_listener_does_not_stop_the_run():
    from foundation.progress import announce

    def broken(*args, **kwargs):
        raise RuntimeError("terminal gone")

    seen = Recorder()
    with listening(broken), listening(seen):
        announce("intake", 1, 2, "a.csv")
    assert seen.calls == [("intake", 1, 2, "a.csv")]
