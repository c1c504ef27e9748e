"""Scale-out mechanisms (bench/scale.py measures them): techniques side by side, batches balanced by
size with the largest files first, and query views moved to a new version table by table."""
from __future__ import annotations

import threading
import time
import uuid
from types import SimpleNamespace

import pandas as pd
import pytest

from schemas import platform as P
from tasks import batches, pipeline, side_by_side
from warehouse import catalog
from warehouse.store import Warehouse, unit_key


# ------------------------------------------------------------------------------------------ side by side
def _recording(after: dict[str, tuple[str, ...]], hold: float = 0.2, fail: str | None = None):
    """work(name) that records when each name ran, and holds long enough for others to overlap it."""
    spans: dict[str, tuple[float, float]] = {}

    def work(name: str) -> str:
        t0 = time.monotonic()
        time.sleep(hold)
        spans[name] = (t0, time.monotonic())
        if name == fail:
            raise ValueError(f"{name} failed")
        return name.upper()

    return spans, work, lambda name: after.get(name, ())


def test_independent_techniques_run_side_by_side_and_a_dependent_one_waits():
    after = {"sxpd": ("echem",)}
    spans, work, deps = _recording(after)
    got = side_by_side.in_dependency_order(["afm", "echem", "nexafs", "sxpd"], deps, work)
    assert got == {"afm": "AFM", "echem": "ECHEM", "nexafs": "NEXAFS", "sxpd": "SXPD"}  # in the order asked
    overlap = lambda a, b: spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]  # noqa: E731
    assert overlap("afm", "echem") and overlap("afm", "nexafs")
    assert spans["sxpd"][0] >= spans["echem"][1]  # after the technique it reads


def test_a_technique_that_finalizes_after_another_runs_its_files_beside_it():
    """sxpd's files need nothing of echem; its finalize (the SOC alignment) reads echem's rows."""
    spans, work, deps = _recording({})
    finished: dict[str, tuple[float, float]] = {}

    def finish(name: str, part: str) -> str:
        t0 = time.monotonic()
        time.sleep(0.1)
        finished[name] = (t0, time.monotonic())
        return part + "!"

    got = side_by_side.in_dependency_order(["echem", "sxpd"], deps, work, finish=finish,
                                           finish_after=lambda n: ("echem",) if n == "sxpd" else ())
    assert got == {"echem": "ECHEM!", "sxpd": "SXPD!"}
    assert spans["sxpd"][0] < spans["echem"][1]  # the files side by side
    assert finished["sxpd"][0] >= finished["echem"][1]  # the finalize after echem's whole work


def test_the_techniques_others_wait_for_go_first():
    after = {"sxpd": ("echem",), "maps": ("sxpd",)}
    order = side_by_side.critical_first(["afm", "echem", "nexafs", "sxpd", "maps"], lambda n: after.get(n, ()))
    assert order[:2] == ["echem", "sxpd"] and order.index("sxpd") < order.index("maps")


def test_a_failure_is_raised_and_what_depends_on_it_never_starts():
    spans, work, deps = _recording({"sxpd": ("echem",)}, fail="echem")
    with pytest.raises(ValueError, match="echem failed"):
        side_by_side.in_dependency_order(["afm", "echem", "sxpd"], deps, work)
    assert "sxpd" not in spans and "afm" in spans  # the independent one finished


def test_the_threads_run_in_the_callers_context():
    import contextvars

    var = contextvars.ContextVar("run", default=None)
    var.set("flow-run-1")
    got = side_by_side.in_dependency_order(["a", "b"], lambda n: (), lambda n: (var.get(), threading.current_thread().name))
    assert {v for v, _ in got.values()} == {"flow-run-1"}
    assert all(t.startswith("socscope-technique") for _, t in got.values())


# ------------------------------------------------------------------------------------------ batches
def _item(i: int, size: int) -> SimpleNamespace:
    return SimpleNamespace(i=i, size_bytes=size)


def test_batches_are_balanced_by_size_largest_first():
    sizes = [100, 1, 1, 1, 90, 1, 1, 1, 10, 10]  # two large files that an even count split puts together
    split = batches.split([_item(i, s) for i, s in enumerate(sizes)], 16, 2)
    loads = [sum(w.size_bytes for w in b) for b in split]
    assert [len(b) for b in split] == [5, 5]  # still evenly filled
    assert {split[0][0].size_bytes, split[1][0].size_bytes} == {100, 90}  # one large file each, first
    assert max(loads) - min(loads) <= 10, loads
    assert all([w.size_bytes for w in b] == sorted((w.size_bytes for w in b), reverse=True) for b in split)
    assert sorted(w.i for b in split for w in b) == list(range(len(sizes)))  # every file once


# ------------------------------------------------------------------------------------------ views
def _commit(wh: Warehouse, spec, row: dict, unit: str) -> None:
    tx = wh.transaction("t")
    tx.put(spec, pd.DataFrame([{**{c.name: None for c in spec.all_columns}, **row}]), unit)
    tx.commit()


def test_a_new_version_makes_again_only_the_views_of_the_tables_it_changed(monkeypatch):
    wh = Warehouse(f"memory://rebind-{uuid.uuid4().hex[:8]}/wh")
    assert not wh.is_local  # views built in memory, as on an object store
    _commit(wh, P.FLOW_RUNS, {"flow_run_id": "r0", "campaign": "c", "step": "s"}, unit_key("u", 0))
    _commit(wh, P.SAMPLE_CONFIG, {"campaign": "c", "sample_id": "S1"}, unit_key("s", 1))
    assert len(wh.query("select * from samples")) == 1  # the connection and every view, once
    made, connects = [], []
    table_view, connect = catalog._table_view, Warehouse.connect
    monkeypatch.setattr(catalog, "_table_view", lambda con, w, spec, *a, **k: (made.append(spec.name),
                                                                               table_view(con, w, spec, *a, **k)))
    monkeypatch.setattr(Warehouse, "connect", lambda self, *a: (connects.append(1), connect(self, *a))[1])
    _commit(wh, P.SAMPLE_CONFIG, {"campaign": "c", "sample_id": "S2"}, unit_key("s", 2))
    assert sorted(wh.query("select sample_id from samples").sample_id) == ["S1", "S2"]  # a view over it follows
    assert made == ["sample_config"] and not connects
    assert len(wh.query("select * from flow_runs")) == 1  # the other tables as they were
    wh.forget_views()  # a rebuilt catalog: every view made anew
    assert len(wh.query("select * from flow_runs")) == 1 and connects == [1]


def test_a_technique_registered_since_makes_every_view_again(monkeypatch):
    from foundation import registry

    wh = Warehouse(f"memory://rebind-{uuid.uuid4().hex[:8]}/wh")
    _commit(wh, P.FLOW_RUNS, {"flow_run_id": "r0", "campaign": "c", "step": "s"}, unit_key("u", 0))
    wh.query("select * from flow_runs")
    monkeypatch.setattr(registry, "TECHNIQUE_MODULES", {**registry.TECHNIQUE_MODULES, "toy": "tests.support.toy_technique"})
    _commit(wh, P.FLOW_RUNS, {"flow_run_id": "r1", "campaign": "c", "step": "s"}, unit_key("u", 1))
    assert wh._query_bound is not None and wh._query_bound[1] != catalog.specs_key()
    assert len(wh.query("select * from toy_values")) == 0  # the new technique's table has its view
    assert wh._query_bound[1] == catalog.specs_key()


# ------------------------------------------------------------------------------------------ pipeline
def test_every_technique_commits_while_another_works(monkeypatch, tmp_path):
    """pipeline.process_techniques runs techniques side by side: a slow technique's files do not hold
    the others' commits (recorded by stand-ins of the pending work, files and finalize)."""
    names = ["afm", "echem", "nexafs", "sxpd"]
    log: list[tuple[str, str]] = []
    monkeypatch.setattr(pipeline, "pending_work", lambda campaign, wh, name: [name])
    monkeypatch.setattr(pipeline, "commit_results", lambda wh, results, run: log.append(("commit", results[0])))

    def run_files(part):
        if part == ["afm"]:
            time.sleep(0.5)
        log.append(("files", part[0]))
        yield [part[0]]

    monkeypatch.setattr(pipeline, "process_items", lambda wh, name, todo, run, files, part, *a: [
        pipeline.commit_results(wh, b, run) for b in files(todo)])
    pipeline.process_techniques(SimpleNamespace(), None, "r", names, run_files=run_files, finalize=lambda n: 0)
    assert log[-2:] == [("files", "afm"), ("commit", "afm")]  # the slow one last, the others not held
    assert log.index(("commit", "echem")) < log.index(("files", "sxpd"))  # sxpd reads echem's rows


def test_the_file_workers_start_their_imports_before_the_run_asks_the_warehouse_anything(tmp_path, monkeypatch):
    """The fork server's imports (~1.5 s) run beside the run's registration and intake: started after the
    warehouse's first requests (~1 s on an object store), they fell into the processing stage whenever
    there was little to take in (bench/scale.py: the first file ~2.5 s into the stage)."""
    from flows import campaign as campaign_flow
    from flows._runtime import LoadedCampaign
    from foundation.config import load_campaign
    from tests.support.fault_world import register_toy
    from tests.support.toy_world import toy_campaign

    calls = []

    def warehouse(campaign):
        calls.append("warehouse")
        raise RuntimeError("the run goes no further in this test")

    register_toy(monkeypatch)
    monkeypatch.setattr(pipeline, "warm_file_workers", lambda campaign: calls.append("warm"))
    monkeypatch.setattr(campaign_flow, "guarded_warehouse", warehouse)
    config = toy_campaign(tmp_path)
    loaded = LoadedCampaign.of(load_campaign(config), str(config))
    with pytest.raises(RuntimeError, match="goes no further"):
        campaign_flow.campaign_run(loaded, None, build_marts=False)
    assert calls == ["warm", "warehouse"]
