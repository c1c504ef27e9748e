"""The run ledger (foundation/ledger.py): typed events and the one definition of "already done"."""
from __future__ import annotations

import dataclasses

import duckdb
import pandas as pd
import pytest

from foundation.ledger import AttemptKey, IngestEvent, done_files
from schemas import platform as P

KEY = AttemptKey(raw_sha256=None, params_id="toy-default@1#abc", code_version="c0de", limits_id="L1")


class Ledger:
    """A warehouse stand-in holding only ``ingest_events`` (the ledger takes any ``query``/``rows(sql, params)``)."""

    def __init__(self, events: list[IngestEvent]):
        self.con = duckdb.connect()
        rows = pd.DataFrame([e.row() for e in events], columns=[c.name for c in P.INGEST_EVENTS.columns])
        self.con.register("ingest_events", rows)

    def query(self, sql, params=None):
        return self.con.execute(sql, params).df()

    def rows(self, sql, params=None):
        from warehouse.store import _named_rows

        return _named_rows(self.con.execute(sql, params))


def attempt(sha: str, key: AttemptKey = KEY, status: str = "ok", error_type: str | None = None) -> IngestEvent:
    return IngestEvent.process(key=key.for_file(sha), campaign="c", technique="toy", sample_id="S1", status=status,
                               reason=None, error_type=error_type, reader="toy-csv@1", flow_run_id="r",
                               original_name=f"{sha}.csv")


def test_an_event_takes_keywords_only():
    with pytest.raises(TypeError):
        IngestEvent.intake("c", "path-key", "toy", "refused", "why", "run", "a.csv")  # type: ignore[misc]
    with pytest.raises(TypeError):
        IngestEvent(*range(16))  # type: ignore[misc]


def test_an_event_is_an_ingest_events_row_in_column_order():
    event = IngestEvent.intake(campaign="c", raw_sha256="lab:a.csv", technique="toy", status="refused",
                               reason="a symlink", flow_run_id="run", original_name="a.csv")
    row = event.row()
    assert list(row) == [c.name for c in P.INGEST_EVENTS.columns]
    assert (row["stage"], row["params_id"], row["raw_sha256"], row["rows_written"]) == ("intake", "intake", "lab:a.csv", 0)
    assert row["code_version"] and row["attempted_at"] is not None


def test_a_process_event_takes_its_columns_from_the_attempt_key():
    row = attempt("aa", status="quarantined", error_type="ValueError").row()
    assert (row["raw_sha256"], row["params_id"], row["code_version"]) == ("aa", KEY.params_id, KEY.code_version)
    with pytest.raises(ValueError, match="for_file"):
        IngestEvent.process(key=KEY, campaign="c", technique="toy", sample_id=None, status="ok", reason=None,
                            error_type=None, reader=None, flow_run_id=None, original_name=None)


def test_a_traceback_is_kept_as_its_digest():
    with_tb = IngestEvent.finalize(fingerprint="f", campaign="c", technique="toy", params_id="p", code_version="c",
                                   status="quarantined", reason="boom", error_type="RuntimeError", flow_run_id=None,
                                   rows_written=0, traceback="Traceback...\nRuntimeError: boom")
    assert with_tb.raw_sha256 == "fin:f" and len(with_tb.traceback_digest) == 12


def test_done_is_one_definition_for_the_selection_and_the_cache_key():
    stopped = KEY.limit_error("TimeLimitExceeded")
    ledger = Ledger([attempt("ok"), attempt("quarantined", status="quarantined", error_type="ValueError"),
                     attempt("stopped", status="quarantined", error_type=stopped)])
    assert done_files(ledger, KEY) == {"ok", "quarantined", "stopped"}

    raised = dataclasses.replace(KEY, limits_id="L2")  # the limits changed: only the stopped file is tried again
    assert done_files(ledger, raised) == {"ok", "quarantined"}
    assert raised.for_file("stopped").cache_key("wh") != KEY.for_file("stopped").cache_key("wh")

    for changed in ({"params_id": "toy-default@2#def"}, {"code_version": "beef"}):
        other = dataclasses.replace(KEY, **changed)
        assert done_files(ledger, other) == set()
        assert other.for_file("ok").cache_key("wh") != KEY.for_file("ok").cache_key("wh")


def test_a_cache_key_is_per_file_and_per_warehouse():
    with pytest.raises(ValueError, match="per file"):
        KEY.cache_key("wh")
    assert KEY.for_file("aa").cache_key("wh1") != KEY.for_file("aa").cache_key("wh2")
    with pytest.raises(ValueError, match="not a limit error"):
        KEY.limit_error("ValueError")
