"""The reprocess and backfill flows with their run artifacts, on the session's Prefect API."""
from __future__ import annotations

import pytest

from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def artifacts_of(flow_run_ids):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=list(flow_run_ids))))


def test_backfill_then_reprocess_another_version_for_some_samples(prefect_api, tmp_path):
    from flows._ops import run_family
    from flows.backfill import backfill_flow
    from flows.reprocess import reprocess_flow

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    write_csv(tmp_path / "share/S2/b.csv", [(3, 4)])
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\n1,banana\n")
    (tmp_path / "toy_v2.yaml").write_text("name: toy-default\nversion: 2\nscale: {factor: 3}\n")

    state = backfill_flow(str(cfg), build_marts=False, return_state=True)
    assert state.is_completed(), state
    assert state.result()["processed"] == 3
    backfill_run = str(state.state_details.flow_run_id)
    arts = {a.key: a for a in artifacts_of(run_family(backfill_run)) if a.key}
    assert {"backfill-summary", "backfill-intake", "backfill-rows-written", "backfill-quarantined",
            "backfill-validation"} <= set(arts)
    assert "banana" in str(arts["backfill-quarantined"].data) or "number" in str(arts["backfill-quarantined"].data)
    progress = [a for a in artifacts_of(run_family(backfill_run)) if a.type == "progress"]
    assert progress and all(float(a.data) == 100.0 for a in progress)

    state = reprocess_flow(str(cfg), "toy", params="toy_v2.yaml", samples=["S2"], return_state=True)
    assert state.is_completed(), state
    assert state.result()["params_id"].startswith("toy-default@2#") and state.result()["processed"] == 2
    wh = pipeline.open_warehouse(load_campaign(cfg))
    rows = wh.query("select sample_id, y_v, params_id from toy_values order by params_id, sample_id").values.tolist()
    assert [(s, y) for s, y, _ in rows] == [("S1", 4.0), ("S2", 8.0), ("S2", 12.0)]  # v2 only for S2
    assert wh.query("select y_v from current_toy_values order by 1").y_v.tolist() == [4.0, 8.0]  # v1 current
    assert wh.query("select active from param_sets where version = 2").active.tolist() == [False]
