"""A bad parameter set is a configuration error naming the key, raised before any file is touched."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from foundation.config import ConfigError, load_campaign
from socscope.cli import main

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "socscope" / "demo_campaign.yaml"


def campaign_with_echem_params(tmp_path: Path, params: dict) -> Path:
    cfg = tmp_path / "campaign.yaml"
    shutil.copy(DEMO_CONFIG, cfg)
    data = yaml.safe_load(cfg.read_text())
    data["params"] = {"echem": "echem-params.yaml"}
    cfg.write_text(yaml.safe_dump(data))
    (tmp_path / "echem-params.yaml").write_text(yaml.safe_dump({"name": "echem-lab", "version": 2, **params}))
    return cfg


def test_a_good_parameter_set_loads(tmp_path):
    cfg = campaign_with_echem_params(tmp_path, {"gitt": {"min_rest_s": 120}})
    assert load_campaign(cfg).params == {"echem": "echem-params.yaml"}


def test_bad_keys_are_named_with_the_file_and_the_campaign_key(tmp_path):
    cfg = campaign_with_echem_params(tmp_path, {"gitt": {"min_rest_s": -5, "min_pulsez": 3}})
    with pytest.raises(ConfigError) as err:
        load_campaign(cfg)
    text = str(err.value)
    assert "params.echem" in text and "echem-params.yaml" in text
    assert "gitt.min_rest_s = -5" in text and "greater than 0" in text
    assert "gitt.min_pulsez" in text and "unknown key" in text and "min_pulses" in text


def test_a_run_with_a_bad_parameter_set_touches_no_file(tmp_path, capsys):
    cfg = campaign_with_echem_params(tmp_path, {"soc": {"cutoff_tolerance_v": "tight"}})
    assert main(["run", "--local", "--config", str(cfg)]) != 0
    assert "soc.cutoff_tolerance_v" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists() and not (tmp_path / "warehouse").exists()  # nothing read or written


def test_a_query_needs_no_parameter_set(tmp_path, capsys):
    """`socscope query` only reads the catalog: it loads the campaign without the parameter check, which
    would import every technique plugin (and refuse a file it has no use for)."""
    cfg = campaign_with_echem_params(tmp_path, {"gitt": {"min_rest_s": -5}})
    with pytest.raises(ConfigError, match="gitt.min_rest_s"):
        load_campaign(cfg)
    assert load_campaign(cfg, parameters=False).params == {"echem": "echem-params.yaml"}
    assert main(["query", "--config", str(cfg), "select 1 as one"]) != 0  # no warehouse yet: a clear one-line refusal
    assert "gitt.min_rest_s" not in capsys.readouterr().err
