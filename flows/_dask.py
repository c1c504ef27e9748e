"""The Dask task runner, with what a task's submission costs paid once per flow run instead of per task.

prefect-dask's runner spent 75-95 ms of the flow process's CPU on every task (bench/dask_submit.py), where
Prefect's thread runner spends 5-10: ~4 s of a full demo's stage, on the two cores the file workers need.

- Dask names a "pure" task by hashing its function and arguments (``tokenize``: a closure made for the
  task, cloudpickled, and every work item): ~25 ms. A Prefect task run is never a duplicate of
  another (each has its own run id), so the name here is the task's and its run id: nothing to hash.
- The run's context was serialised for every task, its settings (several hundred fields) each time:
  ~45 ms. Settings, flow run and tags do not change within a run: serialised once, per context.
- The worker rebuilt the settings from that dump (pydantic-settings reads the environment, ``.env`` and
  ``pyproject.toml`` again): ~25 ms. A cluster in this process (the local one, ``processes=False``)
  gets the run's settings objects themselves (pickled by Dask, not validated again); a cluster
  elsewhere (``execution.dask_address``, perhaps another platform) gets prefect's own dump.

The task itself runs as prefect-dask runs it (``run_task_sync`` in the worker, with the context). The
client and a local cluster are made once, under a lock (a campaign run submits from several threads at
once: one cluster each, before).
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import uuid4

import distributed
import prefect.context as prefect_context
from prefect.context import (
    AssetContext,
    EngineContext,
    SettingsContext,
    TagsContext,
    TaskRunContext,
)
from prefect.task_engine import run_task_async, run_task_sync
from prefect.utilities.engine import collect_task_run_inputs_sync
from prefect_dask import DaskTaskRunner
from prefect_dask.task_runners import PrefectDaskFuture


#: held while a runner makes its client (rarely: once per run), by every runner of the process
_CLIENT_MADE = threading.Lock()


def run_task(task, **run_kwargs):
    """What a Dask worker runs for a Prefect task (a module function: pickled by name, not by value)."""
    if task.isasync:
        return asyncio.run(run_task_async(task, **run_kwargs))
    return run_task_sync(task, **run_kwargs)


class SocscopeDaskTaskRunner(DaskTaskRunner):
    """``DaskTaskRunner`` whose submission serialises the run's context once and hashes nothing."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._context_of: tuple[tuple[Any, ...], frozenset[str], dict[str, Any]] | None = None

    @property
    def client(self):
        """prefect-dask's client (and a local cluster), made at the first submission as there, but once:
        its own check is unguarded, and techniques submitting side by side, each from its thread, each
        made a cluster of their own (4 clusters, 8 Dask workers, 8 batches at once for 2 file-worker
        slots; the files of ~7 batches interleaved on the workers, 4 schedulers in the flow's process).
        Still made at the first submission, not at entry: a run with nothing to process starts none."""
        with _CLIENT_MADE:
            return DaskTaskRunner.client.fget(self)

    @property
    def same_process(self) -> bool:
        """The cluster's workers are threads of this process: a cluster it starts with ``processes=False``
        (flows/_runtime.local_cluster), not one at an address."""
        return not self.address and self.cluster_kwargs.get("processes") is False

    def submit(self, task, parameters: dict[str, Any], wait_for=None, dependencies=None) -> PrefectDaskFuture:
        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        parameters = self._optimize_futures(parameters)
        wait_for = self._optimize_futures(wait_for) if wait_for else None
        inputs = {name: collect_task_run_inputs_sync(value, future_cls=distributed.Future)
                  for name, value in parameters.items()}
        for name, passed in (dependencies or {}).items():
            inputs[name] = inputs.get(name, set()) | passed
        task_run_id = uuid4()
        assets = AssetContext.from_task_and_inputs(task=task, task_run_id=task_run_id, task_inputs=inputs,
                                                   copy_to_child_ctx=True)
        context = {**self._run_context(), "asset_context": assets.serialize()}
        future = distributed.Client.submit(
            self.client, run_task, task, key=f"{task.name}-{task_run_id.hex}", pure=False,
            task_run_id=task_run_id, parameters=parameters, wait_for=wait_for,
            dependencies=inputs, return_type="state", context=context)
        return PrefectDaskFuture(wrapped_future=future, task_run_id=task_run_id)

    def _run_context(self) -> dict[str, Any]:
        """``prefect.context.serialize_context()``, computed again only when one of its contexts changed:
        the run's, task run's and settings' are immutable models (the same object serialises the same);
        the tags context is made anew at each ``get`` when no tags are set, so its tags are compared."""
        settings = SettingsContext.get()
        contexts = (EngineContext.get(), TaskRunContext.get(), settings)
        tags = frozenset(TagsContext.get().current_tags)
        cached = self._context_of
        if cached is None or cached[1] != tags or any(a is not b for a, b in zip(cached[0], contexts)):
            context = prefect_context.serialize_context()
            if self.same_process:  # the objects, not their dump: a worker here has the same classes
                context["settings_context"] = {"profile": settings.profile, "settings": settings.settings}
            self._context_of = cached = (contexts, tags, context)
        return cached[2]
