"""What a share watcher does between two listings, without Prefect: the files of a share it has handled,
the polling loop (flows/watch.py is the flow that runs them)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from foundation.campaign import Campaign, Share
from tasks import intake as I
from warehouse.store import Warehouse


@dataclass
class ShareWatch:
    """What a watcher run knows of its share: the (size, mtime) of each path it has handled (taken,
    refused or already in the warehouse), and when it first saw each new or still-written path."""

    share: Share
    campaign: Campaign
    handled: dict[str, tuple[int, float]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    unreachable: str | None = None

    @classmethod
    def start(cls, share: Share, campaign: Campaign, wh: Warehouse) -> ShareWatch:
        """Handled from the start: what the warehouse's current sightings of the share hold."""
        rows = wh.query("select path, size_bytes, mtime from sightings where share = ? and superseded_at is null",
                        [share.name])
        watch = cls(share, campaign)
        watch.handled = {r.path: (int(r.size_bytes), pd.Timestamp(r.mtime).timestamp()) for r in rows.itertuples()}
        return watch

    def look(self, now: float | None = None) -> tuple[list[I.Candidate], list[I.Candidate]]:
        """(complete files not handled yet, files still being written) of one listing of the share;
        nothing while the share cannot be reached (the next poll looks again)."""
        now = time.time() if now is None else now
        try:
            complete, pending, _ = I.list_share(self.share, self.campaign, now=now)
        except FileNotFoundError as exc:  # a share mount that went away for a moment: not the end of the run
            if self.unreachable != str(exc):
                print(f"share {self.share.name} unreachable: {exc}")
            self.unreachable = str(exc)
            return [], []
        self.unreachable = None
        new = [c for c in complete if not self.known(c)]
        for cand in new + pending:
            self.first_seen.setdefault(cand.rel_path, now)
        return new, pending

    def known(self, cand: I.Candidate) -> bool:
        size, mtime = self.handled.get(cand.rel_path, (-1, 0.0))
        return size == cand.size and abs(mtime - cand.mtime) < 1e-3  # as the intake's stat cache compares

    def took(self, new: list[I.Candidate], still_writing: list[str]) -> None:
        """Mark ``new`` handled after an intake, except the files intake found still being written."""
        left = set(still_writing)
        for cand in new:
            if f"{self.share.name}:{I.shown(cand.rel_path)}" not in left:
                self.handled[cand.rel_path] = (cand.size, cand.mtime)


def watch_loop(poll: Callable[[bool], None], seconds: float, every: float,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    """Call ``poll(first)`` every ``every`` seconds for ``seconds`` (at least once); returns the polls made."""
    end = clock() + seconds
    polls = 0
    while True:
        started = clock()
        poll(polls == 0)
        polls += 1
        if started + every >= end:
            return polls
        sleep(max(0.0, started + every - clock()))


def merged(results: list[dict]) -> dict:
    """One intake summary for a whole watcher run: new files added up, the rest as the last poll saw it."""
    if not results:
        return {"seen": 0, "new_files": 0, "pending": [], "refused": [], "unmapped": [], "unreachable": [], "ignored": []}
    return {**results[-1], "new_files": sum(r["new_files"] for r in results)}
