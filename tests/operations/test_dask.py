"""The Dask task runner (a local dask.distributed cluster) gives the same warehouse as the threads."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

pytestmark = pytest.mark.slow

#: run-specific: which run wrote a row and when things happened differ between any two runs
RUN_SPECIFIC = {"flow_run_id", "processed_at", "first_seen", "attempted_at", "registered_at", "checked_at"}


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)
    # Dask workers are new processes: they learn the toy technique from the plugin variable
    monkeypatch.setenv("SOCSCOPE_PLUGINS", "toy=tests.support.toy_technique")


def comparable(wh) -> dict[str, pd.DataFrame]:
    out = {}
    for table in sorted(wh.manifest().tables):
        if table == "flow_runs":  # a log of runs, run-specific through and through
            continue
        df = wh.query(f'select * from "{table}"')
        df = df[[c for c in df.columns if c not in RUN_SPECIFIC]]
        out[table] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def test_dask_runner_gives_the_same_warehouse_as_threads(prefect_api, tmp_path):
    from flows.campaign import campaign_flow

    cfg = toy_campaign(tmp_path)
    for i in range(6):
        write_csv(tmp_path / f"share/S{1 + i % 2}/f{i}.csv", [(i, i * 0.5), (i + 0.25, -i)])
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    data = yaml.safe_load(cfg.read_text())
    configs = {}
    for runner in ("threads", "dask"):
        # one raw store (content-addressed, so store paths agree), one warehouse per runner
        variant = {**data, "storage": {"warehouse": f"wh-{runner}", "raw_store": "raw"},
                   "execution": {"task_runner": runner, "max_workers": 2}}
        configs[runner] = tmp_path / f"campaign-{runner}.yaml"
        configs[runner].write_text(yaml.safe_dump(variant))
        state = campaign_flow(str(configs[runner]), build_marts=False, return_state=True)
        assert state.is_completed(), state

    threads = comparable(pipeline.open_warehouse(load_campaign(configs["threads"])))
    dask = comparable(pipeline.open_warehouse(load_campaign(configs["dask"])))
    assert set(threads) == set(dask) and {"toy_values", "toy_summary", "raw_files"} <= set(threads)
    for table in threads:
        pd.testing.assert_frame_equal(threads[table], dask[table], check_dtype=False, obj=table)
    assert len(threads["toy_values"]) == 12
    assert (threads["ingest_events"].status == "quarantined").sum() == 1


def test_a_local_dask_cluster_adds_no_processes_beside_the_file_workers(tmp_path):
    """A local cluster's workers are threads of the run's process: a batch task only hands its files to
    the file worker processes (tasks/isolation.py), so a Dask worker process per slot (and its nanny)
    would only add their starts and imports on the same cores. A cluster at ``dask_address`` is the
    facility's own, left as it is."""
    from flows._runtime import task_runner

    cfg = toy_campaign(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    cfg.write_text(yaml.safe_dump({**data, "execution": {"task_runner": "dask", "max_workers": 2}}))
    local = task_runner(load_campaign(cfg))
    assert local.cluster_kwargs == {"n_workers": 2, "threads_per_worker": 1, "processes": False,
                                    "dashboard_address": None}
    import dask  # the in-process cluster samples and ticks no more than a batch needs (bench/scale.py: ~2 s of CPU)

    assert dask.config.get("distributed.worker.profile.enabled") is False
    assert dask.config.get("distributed.admin.tick.interval") == "1s"
    cfg.write_text(yaml.safe_dump({**data, "execution": {"task_runner": "dask", "max_workers": 2,
                                                         "dask_address": "tcp://127.0.0.1:8786"}}))
    assert task_runner(load_campaign(cfg)).address == "tcp://127.0.0.1:8786"


def _settings_and_tags() -> tuple[int, set[str]]:
    from prefect.context import TagsContext
    from prefect.settings import get_current_settings

    return get_current_settings().tasks.default_retries, set(TagsContext.get().current_tags)


def test_the_dask_runner_serialises_a_run_context_once_and_hashes_no_task(prefect_api, monkeypatch):
    """prefect-dask serialised the run's settings for every task (~45 ms) and Dask hashed every task's
    function and arguments for its name (~25 ms); a flow of 40 batches paid it 40 times. The context is
    serialised again only when it changed (other settings, other tags), and a task reaching a worker
    sees the settings and tags of where it was submitted."""
    import prefect.context
    import prefect_dask.client
    from prefect import flow, tags, task
    from prefect.settings import PREFECT_TASK_DEFAULT_RETRIES, temporary_settings

    from flows._dask import SocscopeDaskTaskRunner
    from flows._runtime import local_cluster

    serialised = []
    real = prefect.context.serialize_context
    for module in (prefect.context, prefect_dask.client):  # prefect-dask's client imported it by name
        monkeypatch.setattr(module, "serialize_context", lambda **kw: serialised.append(1) or real(**kw))
    seen = task(persist_result=False)(_settings_and_tags)

    @flow(persist_result=False)
    def submit_batches():
        runner = SocscopeDaskTaskRunner(cluster_kwargs=local_cluster(2))
        with runner:
            plain = [runner.submit(seen, {}) for _ in range(5)]
            with temporary_settings(updates={PREFECT_TASK_DEFAULT_RETRIES: 7}), tags("beamtime-11"):
                tagged = [runner.submit(seen, {}) for _ in range(3)]
            return ([f.result() for f in plain], [f.result() for f in tagged],
                    [f.wrapped_future.key for f in plain + tagged])

    plain, tagged, keys = submit_batches()
    assert len(serialised) == 2  # once for the first five, once for the three under other settings and tags
    assert all(r == (0, set()) for r in plain)
    assert all(r[0] == 7 and "beamtime-11" in r[1] for r in tagged)
    assert len(set(keys)) == 8 and all(k.startswith("_settings_and_tags-") for k in keys)


def test_a_cluster_elsewhere_gets_the_settings_as_prefect_serialises_them():
    """A worker thread of this process gets the run's settings objects (nothing to validate again); a
    cluster elsewhere (another machine, another Prefect install) gets prefect's own serialisation."""
    from prefect.context import SettingsContext

    from flows._dask import SocscopeDaskTaskRunner
    from flows._runtime import local_cluster

    local = SocscopeDaskTaskRunner(cluster_kwargs=local_cluster(2))._run_context()["settings_context"]
    assert local["settings"] is SettingsContext.get().settings
    elsewhere = SocscopeDaskTaskRunner(address="tcp://127.0.0.1:8786")._run_context()["settings_context"]
    assert elsewhere == SettingsContext.get().serialize()


def test_batches_submitted_side_by_side_go_to_one_cluster(prefect_api, monkeypatch):
    """Each technique submits its batches from a thread of its own. prefect-dask made its client (and a
    local cluster) at the first submission, unguarded: four threads made four clusters, and 2 task slots
    ran 8 batches at once. One cluster now, and no more batches at once than its workers' threads; still
    none until the first submission."""
    import contextvars
    import threading

    import distributed
    from prefect import flow, task

    from flows._dask import SocscopeDaskTaskRunner
    from flows._runtime import local_cluster

    clusters = []
    real = distributed.LocalCluster.__init__
    monkeypatch.setattr(distributed.LocalCluster, "__init__",
                        lambda self, *a, **kw: clusters.append(1) or real(self, *a, **kw))
    spans = task(persist_result=False)(_span)

    @flow(persist_result=False)
    def side_by_side():
        with SocscopeDaskTaskRunner(cluster_kwargs=local_cluster(2)) as runner:
            out: list = []

            def technique() -> None:
                futures = [runner.submit(spans, {}) for _ in range(3)]
                out.extend(f.result() for f in futures)

            threads = [threading.Thread(target=contextvars.copy_context().run, args=(technique,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return out

    with SocscopeDaskTaskRunner(cluster_kwargs=local_cluster(2)):
        pass  # a run with nothing to submit starts no cluster
    assert clusters == []
    spans_run = side_by_side()
    edges = sorted([(start, 1) for start, _ in spans_run] + [(end, -1) for _, end in spans_run])
    at_once = max(sum(step for _, step in edges[:i + 1]) for i in range(len(edges)))
    assert len(spans_run) == 12 and len(clusters) == 1 and at_once <= 2, (len(clusters), at_once)


def _span() -> tuple[float, float]:
    """A batch's stand-in: its start and end (a module function: Dask pickles it by name)."""
    import time

    start = time.time()
    time.sleep(0.3)
    return start, time.time()
