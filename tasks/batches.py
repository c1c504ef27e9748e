"""Files of one technique in batches: how a flow splits them, runs a batch, and keys its cache.

A flow runs one Prefect task per batch (``execution.batch_size`` files of one technique), not per file:
a task costs its orchestration (state changes, a result, events) whatever it does, which for a 50 ms
file was as much as the file's work. Inside a batch every file still goes through
``pipeline.process_file`` (its worker process, time and memory limits, its own quarantine event).
"""
from __future__ import annotations

import hashlib
import math

from foundation.campaign import Campaign
from tasks import pipeline


def split(items: list[pipeline.WorkItem], size: int, workers: int) -> list[list[pipeline.WorkItem]]:
    """``items`` in batches of at most ``size`` files, evenly filled, and at least ``workers`` batches
    when there are that many files (so that every task slot has a batch, however few files there are).

    Largest files first (``size_bytes``), each to the batch with the fewest bytes so far that has room:
    the batches running side by side end together, instead of one worker finishing a batch of large
    maps while the other has nothing left (files of equal size keep their order, batch by batch)."""
    if not items:
        return []
    count = min(len(items), max(math.ceil(len(items) / size), workers))
    per, extra = divmod(len(items), count)
    room = [per + (i < extra) for i in range(count)]
    out: list[list[pipeline.WorkItem]] = [[] for _ in range(count)]
    load = [0] * count
    for item in sorted(items, key=lambda w: -_bytes(w)):  # a stable sort: ties keep their order
        i = min((b for b in range(count) if len(out[b]) < room[b]), key=lambda b: (load[b], b))
        out[i].append(item)
        load[i] += _bytes(item)
    return out


def _bytes(item: pipeline.WorkItem) -> int:
    return getattr(item, "size_bytes", None) or 0


def run_batch(items: list[pipeline.WorkItem], campaign: Campaign, wh_url: str,
              flow_run_id: str | None) -> list[pipeline.FileResult]:
    """Each file of a batch in turn, under its limits; a failing file is quarantined, the batch goes on."""
    return [pipeline.process_file(item, campaign, wh_url, flow_run_id) for item in items]


def batch_cache_key(items: list[pipeline.WorkItem], campaign: Campaign, wh_url: str) -> str:
    """The Prefect cache key of a batch: the attempt keys of its files (foundation.ledger), so that a run
    killed before its commit finds the batches it had finished, and a changed file, parameter, code or
    limit makes the batch run again. The warehouse URL keeps warehouses apart."""
    keys = "\n".join(item.key(campaign).cache_key(wh_url) for item in items)
    return "batch:" + hashlib.sha256(keys.encode()).hexdigest()
