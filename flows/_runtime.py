"""Prefect runtime glue shared by the flows: the campaign of a run, task runner choice, the warehouse write limit.

Prefect is imported where it is used, not with this module: the CLI takes a run's intake on the
guarded warehouse while Prefect is still being imported in another thread (socscope/cli.py)."""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, PrivateAttr

from foundation import secrecy
from foundation.campaign import Campaign
from foundation.config import load_campaign
from tasks.pipeline import PreparedIntake, open_warehouse
from warehouse.store import Warehouse

#: global concurrency limit (created by `socscope server up`) that serialises warehouse commits
WRITE_LIMIT = "socscope-warehouse-write"


class LoadedCampaign(BaseModel):
    """The campaign of one flow run, loaded once at the run's start and passed to its subflows and tasks.

    Prefect stores a subflow's parameters in its database, and a loaded campaign holds the secrets
    filled in from the environment: so the config path is the only field (what Prefect stores and
    shows), and the campaign is private — it travels in memory, or pickled to a Dask worker, which
    registers its secrets for masking on arrival as loading the file would have.
    """

    model_config = ConfigDict(frozen=True)

    config: str
    _campaign: Campaign = PrivateAttr()
    #: an intake its caller prepared before the run (socscope/cli.py), that the run commits: taken once
    _prepared: PreparedIntake | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, campaign: Campaign, config: str) -> LoadedCampaign:
        loaded = cls(config=config)
        loaded._campaign = campaign
        return loaded

    @classmethod
    def load(cls, config: CampaignArg) -> LoadedCampaign:
        """The campaign a parent flow passed, or the one in the file ``config`` names."""
        return config if isinstance(config, LoadedCampaign) else cls.of(load_campaign(config), str(config))

    @property
    def campaign(self) -> Campaign:
        return self._campaign

    def with_prepared_intake(self, prepared: PreparedIntake) -> LoadedCampaign:
        self._prepared = prepared
        return self

    def take_prepared_intake(self, shares: list[str]) -> PreparedIntake | None:
        """The intake prepared before the run for exactly ``shares``, once (a retry takes the shares again)."""
        prepared, self._prepared = self._prepared, None
        return prepared if prepared is not None and prepared.shares == shares else None

    def __getstate__(self) -> dict[Any, Any]:  # a prepared intake stays in this process
        state = super().__getstate__()
        return {**state, "__pydantic_private__": {**(state.get("__pydantic_private__") or {}), "_prepared": None}}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        secrecy.register_config_secrets(self._campaign.model_dump(mode="json"))


#: a flow's ``config``: the campaign file (deployments, the CLI), or the campaign a parent flow loaded
CampaignArg = Union[str, LoadedCampaign]


def no_heartbeats():
    """Flow runs started inside emit no heartbeats. A heartbeat tells a server that a run's process still
    lives (to find crashed runs); where nobody can read it — an API that lives and dies with the run's
    process, a subflow in the process its parent's heartbeat covers — it only costs: each flow run
    waits at its end, up to a second, for its heartbeat thread to wake from its sleep."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


#: the heartbeat frequency (s) of the next flow run whose body beats itself (:func:`beating`)
_BEAT_EVERY: contextvars.ContextVar[int | None] = contextvars.ContextVar("socscope_beat_every", default=None)


@contextlib.contextmanager
def prompt_heartbeats() -> Iterator[None]:
    """Around a flow call whose body is :func:`beating`: its run sends the heartbeats Prefect would (the
    same event at the configured frequency) from a thread that stops at once when the work ends, not
    Prefect's thread, which sleeps in one-second steps and is waited for at the run's end (~0.5 s a
    run, on the user's clock for a CLI run on a server)."""
    from prefect.settings import get_current_settings

    token = _BEAT_EVERY.set(get_current_settings().flows.heartbeat_frequency)
    try:
        with no_heartbeats():
            yield
    finally:
        _BEAT_EVERY.reset(token)


@contextlib.contextmanager
def beating() -> Iterator[None]:
    """The current flow run's heartbeats from this body's start to its end, when its caller asked for
    them (:func:`prompt_heartbeats`); else nothing (Prefect's own, or none)."""
    every, token = _BEAT_EVERY.get(), _BEAT_EVERY.set(None)  # for this run, not its subflows
    stop = threading.Event()
    thread = None
    if every is not None:
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        # in this context: Prefect's settings (its API above all) are context variables, not the thread's
        thread = threading.Thread(target=contextvars.copy_context().run, name="heartbeat", daemon=True,
                                  args=(_beat, context.flow_run, context.flow.name, max(every, 30), stop))
        thread.start()
    try:
        yield
    finally:
        stop.set()
        _BEAT_EVERY.reset(token)
        if thread is not None:
            thread.join(timeout=5)


def _beat(run: Any, flow_name: str, every: int, stop: threading.Event) -> None:
    """Prefect's heartbeat event of ``run`` (resource and related as prefect.flow_engine makes them)
    every ``every`` seconds (Prefect's minimum: 30) until ``stop``."""
    import prefect
    from prefect.events import emit_event
    from prefect.events.related import tags_as_related_resources
    from prefect.events.schemas.events import RelatedResource

    resource = {"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.name": run.name or "",
                "prefect.version": prefect.__version__}
    related = [RelatedResource.model_validate({"prefect.resource.id": f"prefect.flow.{run.flow_id}",
                                               "prefect.resource.role": "flow", "prefect.resource.name": flow_name})]
    if run.deployment_id:
        related.append(RelatedResource.model_validate({"prefect.resource.id": f"prefect.deployment.{run.deployment_id}",
                                                       "prefect.resource.role": "deployment"}))
    related += tags_as_related_resources(set(run.tags or []))
    while not stop.is_set():
        try:
            emit_event(event="prefect.flow-run.heartbeat", resource=resource, related=related)
        except Exception:  # a missed heartbeat is no reason to stop the run (as in Prefect)
            logging.getLogger(__name__).debug("heartbeat of flow run %s not sent", run.id, exc_info=True)
        stop.wait(every)


def current_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.get_id() or "local")


_GUARDED: dict[tuple[str, str], Warehouse] = {}
_GUARDED_LOCK = threading.Lock()


def guarded_warehouse(campaign: Campaign) -> Warehouse:
    """The campaign's warehouse with the flows' commit guard, one per process and warehouse: every task
    of a run (intake per share, finalize per technique, marts) shares its catalog views instead of
    building them again, until a commit makes a new manifest version."""
    key = (campaign.resolve(campaign.storage.warehouse),
           json.dumps(campaign.storage.storage_options, sort_keys=True, default=str))
    with _GUARDED_LOCK:
        wh = _GUARDED.get(key)
        if wh is None or (wh.is_local and not Path(wh.root).is_dir()):  # a warehouse deleted since
            wh = _GUARDED[key] = _with_guard(open_warehouse(campaign))
        return wh


def _with_guard(wh: Warehouse) -> Warehouse:
    # On an object store this limit is the only lock between machines (no flock there), so a missing
    # limit is an error rather than a silent free-for-all. The slot is a lease renewed by its holder:
    # a committer that is killed frees it within a minute instead of the default five. A local
    # warehouse has its file lock (store.writer_lock, which NFS carries between machines) and no
    # slot on top: a slot cost ~5 requests and 2 events per commit, ~20 commits a campaign run,
    # answered by the server on the cores the files run on.
    if not wh.is_local:
        wh.commit_guard = _write_slot
    return wh


def _write_slot():
    from prefect.concurrency.sync import concurrency

    return concurrency(WRITE_LIMIT, occupy=1, strict=True, lease_duration=60)


#: the local Dask cluster lives in the run's process, beside the flow run's threads: its workers'
#: statistical profiler (every 10 ms, for a dashboard that is not started) and its 20-100 ms monitoring
#: ticks cost the flow ~2 s of CPU a run (bench/scale.py, small demo) and watch nothing a batch holds
LOCAL_DASK_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                     "distributed.worker.memory.monitor-interval": "1s",
                     "distributed.admin.system-monitor.interval": "5s"}


def local_cluster(workers: int) -> dict[str, Any]:
    """The local Dask cluster's arguments: worker threads, not processes. A batch task only hands its files
    to file worker processes (tasks/isolation.py) and waits; a Dask worker process per slot (and its
    nanny) cost their start and imports again, ~15 s of CPU on a 2-worker small demo, for no parallelism
    gained; and no dashboard: it needs bokeh (not installed), and its server costs every run ~0.4 s of CPU."""
    return {"n_workers": workers, "threads_per_worker": 1, "processes": False, "dashboard_address": None}


def task_runner(campaign: Campaign):
    """Threads by default; a Dask cluster (existing address or a local one) when the config says so."""
    if campaign.execution.task_runner == "dask":
        from flows._dask import SocscopeDaskTaskRunner

        if campaign.execution.dask_address:
            return SocscopeDaskTaskRunner(address=campaign.execution.dask_address)
        import dask

        dask.config.set(LOCAL_DASK_CONFIG)
        return SocscopeDaskTaskRunner(cluster_kwargs=local_cluster(campaign.execution.max_workers))
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=campaign.execution.max_workers)
