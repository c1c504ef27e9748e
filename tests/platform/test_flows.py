"""Flows against a real Prefect API (a temporary server), not mocks."""
import pytest

from foundation.config import load_campaign
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def test_campaign_flow_runs_on_prefect_and_is_idempotent(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.campaign import campaign_flow

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    (tmp_path / "share/S2").mkdir(parents=True)
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\nx,y\n")
    state = campaign_flow(str(cfg), return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert result["process"]["processed"] == 2 and len(result["process"]["quarantined"]) == 1
    wh = pipeline.open_warehouse(load_campaign(cfg))
    rows = wh.query("select flow_run_id from toy_values")
    assert len(rows) == 2
    run_id = rows.flow_run_id[0]
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        assert run.state.is_completed()
    counts = {t: sum(e.rows for e in es) for t, es in wh.manifest().tables.items() if t != "flow_runs"}
    state2 = campaign_flow(str(cfg), return_state=True)
    assert state2.is_completed()
    counts2 = {t: sum(e.rows for e in es) for t, es in wh.manifest().tables.items() if t != "flow_runs"}
    assert counts2 == counts
    assert len(wh.query("select * from flow_runs")) == 2  # the run log grows, nothing else


def test_a_campaign_run_reads_its_config_once_and_prefect_stores_only_its_path(prefect_api, tmp_path, monkeypatch):
    """The campaign is loaded at the run's start and passed to every subflow and task (flows._runtime);
    the parameters Prefect stores for the subflows name the config file and hold nothing of the campaign."""
    from prefect.client.orchestration import get_client

    import foundation.config
    from flows._ops import run_family
    from flows.campaign import campaign_flow

    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    loads = []
    parse = foundation.config.parse_campaign
    monkeypatch.setattr(foundation.config, "parse_campaign", lambda *a, **k: loads.append(a[1]) or parse(*a, **k))
    state = campaign_flow(str(cfg), return_state=True)
    assert state.is_completed(), state
    assert loads == [str(cfg)]
    family = run_family(str(state.state_details.flow_run_id))  # this run and its subflows
    with get_client(sync_client=True) as client:
        stored = [v for run in family for v in client.read_flow_run(run).parameters.values() if isinstance(v, dict)]
    assert len(family) == 2 and stored and all(v == {"config": str(cfg)} for v in stored), stored  # + process
