"""Is there anything for a run to do? Read-only answer, cheaper than a run that finds nothing.

A re-run with nothing new must cost next to nothing (issue 22: <= 5 % of the first run): `socscope run`
and `socscope demo` ask ``what_is_new`` first and, when it says nothing, neither start Prefect nor
write anything. It answers from what a run would look at, in the order a run looks:

- the config: samples, cells and parameter sets as ``register_campaign`` writes them (a config whose rows
  are unchanged commits nothing, so registering is the check);
- the shares, by stat only: a path not sighted yet, or whose size or mtime differ from its sighting, a
  refusal or ignore decision not yet recorded, a share due for its full re-hash (Share.rehash_every_days);
- the run ledger: files pending under their attempt keys (``pipeline.pending_work``);
- the marts: a profile scope or the derived marts whose fingerprint no longer matches (``stale_marts``).
"""
from __future__ import annotations

from foundation.campaign import Campaign
from foundation.registry import ordered_techniques
from tasks import intake as I
from tasks import pipeline
from warehouse.store import Warehouse


def what_is_new(campaign: Campaign, wh: Warehouse) -> list[str]:
    """What a run would do now, one line each; empty when a run would find nothing to do."""
    from warehouse.marts import stale_marts

    before = wh.manifest().version
    if before == 0:
        return ["an empty warehouse: the first run"]
    if not pipeline.campaign_registered(campaign, wh) and pipeline.register_campaign(campaign, wh).version != before:
        return ["the campaign's samples, cells or parameter sets changed (registered now)"]
    news = share_news(campaign, wh)
    for name in ordered_techniques():
        todo = pipeline.pending_work(campaign, wh, name)
        if todo:
            news.append(f"{len(todo)} {name} file(s) to process")
    if news:
        return news
    return [f"marts to rebuild: {m}" for m in stale_marts(wh)]


def share_news(campaign: Campaign, wh: Warehouse) -> list[str]:
    """Paths of the shares that an intake would record something about (by stat: nothing is read)."""
    known = wh.rows("select share, path, size_bytes, mtime from sightings where superseded_at is null")
    sighted = {(r.share, r.path): (r.size_bytes, r.mtime) for r in known}
    events = wh.rows("select raw_sha256, status, reason from ingest_events where stage = 'intake'")
    past = {r.raw_sha256: (r.status, r.reason) for r in events}
    person = pipeline.ignored_targets(wh)
    news = [f"share {name}: due for its full re-hash" for name in sorted(pipeline.rehash_due(campaign, wh,
                                                                                            pipeline.now_utc()))]
    for share in campaign.shares:
        try:
            complete, pending, refused = I.list_share(share, campaign)
        except FileNotFoundError:
            continue  # an unreachable share: a run would record nothing either (it says so)
        changed = [r.rel_path for r in refused if not _recorded(share.name, r, past, person)]
        for c, done in [(c, True) for c in complete] + [(c, False) for c in pending]:
            key = I.path_key(share.name, c.rel_path)
            if key in person:
                continue
            if done and c.size == 0 and not c.is_bundle:
                seen = past.get(key) == ("refused", pipeline.EMPTY_REASON)
            else:
                seen = past.get(key, ("ok",))[0] == "ok" and (not done or _sighted(sighted, share.name, c))
            if not seen:
                changed.append(c.rel_path)
        if changed:
            news.append(f"share {share.name}: {len(changed)} new or changed path(s), e.g. {I.shown(changed[0])}")
    return news


def _recorded(share: str, r: I.Refusal, past: dict, person: set[str]) -> bool:
    key = I.path_key(share, r.rel_path)
    return key in person or past.get(key) == ("ignored" if r.ignored_by else "refused", r.reason)


def _sighted(sighted: dict, share: str, c: I.Candidate) -> bool:
    was = sighted.get((share, c.rel_path))
    return was is not None and was[0] == c.size and pipeline._same_time(was[1], c.mtime)


def nothing_new_summary(campaign: Campaign, wh: Warehouse) -> dict:
    """The end-of-run summary of a run that had nothing to do (what `socscope run` prints)."""
    summary = pipeline.run_summary(campaign, wh)
    seen = wh.rows("select count(*) as n from sightings where superseded_at is null")[0].n
    return {**summary, "intake": [{"seen": seen, "new_files": 0}], "process": {}, "marts": {}, "nothing_new": True}
