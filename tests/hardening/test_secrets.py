"""Secrets come from the environment (``${ENV_VAR}`` in the campaign YAML), never from the file, and
never appear in logs, Prefect artifacts, ingest events or warehouse files."""
from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from foundation import secrecy
from foundation.config import ConfigError, load_campaign
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv

STORE_SECRET = "wh-S3cr3t-7f1c0d9e"  # distinctive: a hit can only be this secret
SHARE_PASSWORD = "share-Pa55-b2e4a8"


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def _config(tmp_path: Path, **edits) -> Path:
    cfg = toy_campaign(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    for dotted, value in edits.items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        node[last] = value
    cfg.write_text(yaml.safe_dump(data))
    return cfg


@pytest.mark.parametrize("key,value,named", [
    ("storage.storage_options.secret", "abcd1234", "storage.storage_options.secret"),
    ("storage.storage_options.key", "AKIAEXAMPLE", "storage.storage_options.key"),
    ("shares.0.storage_options.password", "hunter22", "shares[0].storage_options.password"),
    ("shares.0.url", "sftp://lab:hunter22@nas/afm", "shares[0].url"),
    ("storage.warehouse", "s3://user:pw1234@bucket/wh", "storage.warehouse"),
    ("shares.0.reader_options.api_token", "tok-123456", "shares[0].reader_options.api_token"),
])
def test_a_secret_written_in_the_file_is_refused_naming_key_and_variable(tmp_path, key, value, named):
    cfg = _config(tmp_path, **{key: value})
    with pytest.raises(ConfigError) as exc:
        load_campaign(cfg)
    text = str(exc.value)
    assert named in text and "${SOCSCOPE_" in text and "environment variable" in text
    assert value not in text and "pw1234" not in text and "hunter22" not in text  # not even in the refusal


def test_references_are_filled_from_the_environment_and_registered(tmp_path, monkeypatch):
    monkeypatch.setenv("TOY_STORE_SECRET", STORE_SECRET)
    monkeypatch.setenv("TOY_SHARE_PASSWORD", SHARE_PASSWORD)
    cfg = _config(tmp_path, **{"storage.storage_options.secret": "${TOY_STORE_SECRET}",
                               "shares.0.storage_options.password": "${TOY_SHARE_PASSWORD}",
                               "storage.storage_options.anon": False})
    campaign = load_campaign(cfg)
    assert campaign.storage.storage_options == {"secret": STORE_SECRET, "anon": False}
    assert campaign.shares[0].storage_options == {"password": SHARE_PASSWORD}
    assert {STORE_SECRET, SHARE_PASSWORD} <= secrecy.registered()
    assert secrecy.redact(f"secret={STORE_SECRET}; password={SHARE_PASSWORD}") == "secret=***; password=***"


def test_a_missing_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("TOY_NOT_SET", raising=False)
    cfg = _config(tmp_path, **{"storage.storage_options.secret": "${TOY_NOT_SET}"})
    with pytest.raises(ConfigError, match=r"storage\.storage_options\.secret: environment variable TOY_NOT_SET is not set"):
        load_campaign(cfg)


def test_url_passwords_and_env_secrets_are_masked():
    assert secrecy.redact("postgresql+asyncpg://prefect:pw-xyz@db:5432/prefect failed") == \
        "postgresql+asyncpg://prefect:***@db:5432/prefect failed"
    assert secrecy.redact("s3://bucket/key and http://host/a@b") == "s3://bucket/key and http://host/a@b"
    secrecy.register_environment({"PREFECT_SERVER_API_AUTH_STRING": "admin:auth-9911",
                                  "SOCSCOPE_PREFECT_DATABASE_URL": "postgresql://u:dbpass-77@h/d",
                                  "SOME_FLAG_TOKEN": "true", "PATH": "/usr/bin"})
    assert secrecy.redact("login admin:auth-9911 with dbpass-77 on /usr/bin true") == \
        "login *** with *** on /usr/bin true"


def test_log_records_and_tracebacks_are_masked():
    secrecy.register("tb-secret-4455")
    secrecy.install_log_redaction()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    log = logging.getLogger("socscope.test.redaction")
    log.addHandler(handler)
    try:
        log.warning("connecting with %s", {"secret": "tb-secret-4455"})
        try:
            raise OSError("auth failed for tb-secret-4455")
        except OSError:
            log.exception("share failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "tb-secret-4455" not in text and "OSError: auth failed for ***" in text and "{'secret': '***'}" in text


def test_warehouse_text_is_masked_before_it_is_written(tmp_path):
    import pandas as pd

    from schemas.core import Column, TableSpec
    from warehouse.store import Warehouse

    secrecy.register("wh-text-secret-31")
    spec = TableSpec("notes", "event", (Column("note", "string", ""),), key=("note",), measurement=False, partition_by=())
    wh = Warehouse(str(tmp_path / "wh"))
    tx = wh.transaction()
    tx.upsert(spec, pd.DataFrame({"note": ["reached s3 with wh-text-secret-31", "plain"]}))
    tx.commit()
    (entry,) = wh.manifest().tables["notes"]
    assert sorted(pq.read_table(tmp_path / "wh" / entry.path).column("note").to_pylist()) == \
        ["plain", "reached s3 with ***"]


def _texts_under(root: Path):
    """(file, text) of every file: Parquet decoded to its values (zstd pages hide plain bytes)."""
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        if f.suffix == ".parquet":
            yield f, pq.read_table(f).to_pandas().to_csv()
        else:
            yield f, f.read_bytes().decode("utf-8", "replace")


@pytest.mark.slow
def test_a_campaign_run_with_secrets_leaves_no_trace(prefect_api, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from flows.campaign import campaign_flow
    from tasks import pipeline

    monkeypatch.setenv("TOY_STORE_SECRET", STORE_SECRET)
    monkeypatch.setenv("TOY_SHARE_PASSWORD", SHARE_PASSWORD)
    cfg = _config(tmp_path, **{"storage.storage_options.secret": "${TOY_STORE_SECRET}",
                               "shares.0.storage_options.password": "${TOY_SHARE_PASSWORD}"})
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    (tmp_path / "share/S2").mkdir(parents=True)
    (tmp_path / "share/S2/broken.csv").write_text("#toy-csv\nx,y\n")  # an event with a reason
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    # the runs' INFO lines too (their prints: shares, quarantine reasons, warnings), to the API and here:
    # the tests' PREFECT_LOGGING_LEVEL (WARNING) would leave nothing to search when the run warns of nothing
    run_loggers = {name: logging.getLogger(name).level for name in ("prefect", "prefect.flow_runs", "prefect.task_runs")}
    for lg in loggers:
        lg.addHandler(handler)
    for name in run_loggers:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        state = campaign_flow(str(cfg), build_marts=False, return_state=True)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        for name, level in run_loggers.items():
            logging.getLogger(name).setLevel(level)
    assert state.is_completed(), state
    campaign = load_campaign(cfg)
    wh = pipeline.open_warehouse(campaign)
    assert wh.fs.storage_options.get("secret") == STORE_SECRET  # the secret was really in use
    assert len(wh.query("select * from ingest_events")) >= 2 and len(wh.query("select * from quarantine")) == 1
    run_id = wh.query("select flow_run_id from toy_values").flow_run_id[0]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
        # run logs reach the API in batches from a background worker: wait (bounded) for them
        deadline = time.monotonic() + 30
        while True:
            api_logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            if api_logs or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert artifacts and api_logs and captured.getvalue()
    haystacks = {"captured logs": captured.getvalue(),
                 "Prefect API logs": "\n".join(entry.message for entry in api_logs),
                 "Prefect artifacts": "\n".join(f"{a.key} {a.description} {a.data}" for a in artifacts),
                 "ingest events": wh.query("select * from ingest_events").to_csv(),
                 **{str(f): text for f, text in _texts_under(tmp_path) if f.name != "campaign.yaml"}}
    for secret in (STORE_SECRET, SHARE_PASSWORD):
        hits = [where for where, text in haystacks.items() if secret in text]
        assert hits == [], f"{secret} found in {hits}"


def test_a_campaign_passed_between_flows_keeps_its_secrets_out_of_prefect_and_masked_on_arrival(tmp_path, monkeypatch):
    """Flows load the campaign once and pass it down (flows._runtime.LoadedCampaign): Prefect stores a
    subflow's parameters, so only the config path may go there; a Dask worker that gets the campaign
    pickled, instead of loading the file, must still mask its secrets."""
    pytest.importorskip("prefect")
    import pickle

    from flows._runtime import LoadedCampaign
    from flows.process import process_flow

    monkeypatch.setenv("TOY_STORE_S", STORE_SECRET)  # names that do not look secret: only the config says so
    monkeypatch.setenv("TOY_NAS_PW", SHARE_PASSWORD)
    cfg = _config(tmp_path, **{"storage.storage_options.secret": "${TOY_STORE_S}",
                               "shares.0.storage_options.password": "${TOY_NAS_PW}"})
    loaded = LoadedCampaign.load(str(cfg))
    stored = process_flow.serialize_parameters({"config": loaded, "techniques": None})
    assert stored["config"] == {"config": str(cfg)}
    assert process_flow.validate_parameters({"config": loaded})["config"] is loaded

    monkeypatch.setattr(secrecy, "_secrets", set())  # a fresh worker process has registered nothing
    arrived = pickle.loads(pickle.dumps(loaded))
    assert arrived.campaign.storage.storage_options["secret"] == STORE_SECRET
    assert {STORE_SECRET, SHARE_PASSWORD} <= secrecy.registered()
