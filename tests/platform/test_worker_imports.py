"""What the file workers' fork server imports for them (tasks/forkserver.py): every module a technique
names in ``worker_imports`` exists (a name that does not would be skipped without a word, and its files
would import it in each worker again), and a campaign on an object store adds that store's filesystem."""
from __future__ import annotations

import importlib.util

import pytest
import yaml

from foundation.config import load_campaign
from foundation.registry import ordered_techniques, technique
from tasks import pipeline
from tests.operations.conftest import put_on_store
from tests.support.toy_world import toy_campaign


@pytest.mark.parametrize("name", ordered_techniques())
def test_every_module_a_technique_names_for_its_workers_exists(name):
    missing = [m for m in technique(name).worker_imports if importlib.util.find_spec(m) is None]
    assert missing == [], f"{name} names modules that do not exist: {missing}"


def test_a_campaign_on_an_object_store_has_its_workers_import_the_store_and_its_techniques_modules(tmp_path, monkeypatch):
    cfg = toy_campaign(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    data["shares"][0]["technique"] = "afm"
    cfg.write_text(yaml.safe_dump(data))
    put_on_store(cfg, "s3://bucket", {"key": "k", "secret": "s"}, monkeypatch)  # no store is reached
    data = yaml.safe_load(cfg.read_text())
    names = pipeline.worker_imports(load_campaign(cfg))
    assert names[:len(pipeline.FILE_WORK_IMPORTS)] == pipeline.FILE_WORK_IMPORTS
    assert "s3fs" in names and "tasks.afm.process" in names
    assert "xraydb" not in names  # NEXAFS has no share in this campaign
    data["storage"] = {"warehouse": "wh", "raw_store": "raw"}
    cfg.write_text(yaml.safe_dump(data))
    assert not any(n.startswith("s3fs") for n in pipeline.worker_imports(load_campaign(cfg)))
