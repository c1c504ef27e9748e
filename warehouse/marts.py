"""Marts: cross-technique tables computed in SQL from the current rows, rebuilt when inputs change."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from socscope.config import Campaign
from warehouse.store import Warehouse

MARTS_DIR = Path(__file__).parent / "marts"


def mart_files() -> list[Path]:
    return sorted(MARTS_DIR.glob("*.py")) + sorted(MARTS_DIR.glob("*.sql"))


def inputs_fingerprint(wh: Warehouse, tables: list[str]) -> str:
    manifest = wh.manifest()
    text = "|".join(f"{t}:{sorted(e.path for e in manifest.tables.get(t, []))}" for t in sorted(tables))
    return hashlib.sha256(text.encode()).hexdigest()


def build_marts(campaign: Campaign, wh: Warehouse, flow_run_id: str | None, force: bool = False) -> dict[str, Any]:
    """Build every registered mart whose inputs changed since its last build (see warehouse.mart_registry)."""
    from warehouse.mart_registry import MARTS

    results: dict[str, Any] = {}
    for mart in MARTS:
        results[mart.name] = mart.build(campaign, wh, flow_run_id, force=force)
    return results
