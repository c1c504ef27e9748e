"""Fixtures for framework tests: a campaign with one toy share, and the toy technique registered alone."""
from __future__ import annotations

from pathlib import Path

import yaml

from foundation.config import load_campaign


def use_toy_registry(monkeypatch) -> None:
    import foundation.registry as reg

    monkeypatch.setattr(reg, "TECHNIQUE_MODULES", {"toy": "tests.support.toy_technique"})


def toy_campaign(root: Path, settle_seconds: float = 0, extra_share: bool = False, **share_kw):
    share = root / "share"
    share.mkdir(parents=True, exist_ok=True)
    data = {
        "name": "toy-campaign",
        "storage": {"warehouse": "wh", "raw_store": "raw"},
        "samples": [{"id": "S1", "series": "cumulative", "branch": "charge", "soc_nominal_pct": 50},
                    {"id": "S2", "series": "cumulative", "branch": "charge", "soc_nominal_pct": 100}],
        "shares": [{"name": "lab", "url": "share", "technique": "toy", "patterns": ["**/*"],
                    "mapping": {"path_pattern": "^(?P<sample>[^/]+)/"}, "settle_seconds": settle_seconds, **share_kw}],
    }
    if extra_share:
        (root / "share2").mkdir(exist_ok=True)
        data["shares"].append({**data["shares"][0], "name": "lab2", "url": "share2"})
    cfg = root / "campaign.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return cfg


def write_csv(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#toy-csv\n" + "\n".join(f"{x},{y}" for x, y in rows) + "\n")
    return path


def toy_one_quarantined(root: Path) -> Path:
    """A toy campaign expecting one file of S1 and of S2: S1/a.csv reads, S2's only file (broken.csv) does not."""
    cfg = toy_campaign(root)
    data = yaml.safe_load(cfg.read_text())
    data["expected"] = {"S1": {"toy": 1}, "S2": {"toy": 1}}
    cfg.write_text(yaml.safe_dump(data))
    write_csv(root / "share/S1/a.csv", [(1, 2)])
    (root / "share/S2").mkdir(parents=True)
    (root / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    return cfg
