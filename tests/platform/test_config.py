from pathlib import Path

import pytest
import yaml

from foundation.config import ConfigError, load_campaign, parse_campaign
from socscope.demo import demo_config_text


def _base():
    return {"name": "c1", "samples": [{"id": "A", "series": "cumulative", "branch": "charge", "soc_nominal_pct": 50}]}


def test_error_names_key_path_and_value():
    data = _base()
    data["samples"][0]["soc_nominal_pct"] = 150
    data["samples"][0]["branch"] = "sideways"
    with pytest.raises(ConfigError) as exc:
        parse_campaign(data, "c.yaml")
    msg = str(exc.value)
    assert "samples.0.soc_nominal_pct" in msg and "150" in msg
    assert "samples.0.branch" in msg and "'sideways'" in msg
    assert "2 problem(s)" in msg


def test_unknown_key_and_dangling_cell_are_reported():
    data = _base()
    data["samples"][0]["cell"] = "nope"
    data["sampels"] = []
    with pytest.raises(ConfigError) as exc:
        parse_campaign(data)
    assert "sampels" in str(exc.value)
    data.pop("sampels")
    with pytest.raises(ConfigError) as exc:
        parse_campaign(data)
    assert "cell 'nope' is not among cells" in str(exc.value)


def test_bad_regex_and_unknown_technique():
    data = _base()
    data["shares"] = [{"name": "s", "url": "x", "technique": "raman", "mapping": {"path_pattern": "(?P<sample>"}}]
    with pytest.raises(ConfigError) as exc:
        parse_campaign(data)
    msg = str(exc.value)
    assert "shares.0.technique" in msg and "'raman'" in msg
    assert "shares.0.mapping.path_pattern" in msg and "regular expression" in msg


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="socscope init"):
        load_campaign(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_campaign(bad)


def test_default_and_demo_configs_validate(tmp_path: Path):
    from importlib import resources

    text = resources.files("socscope").joinpath("default_campaign.yaml").read_text()
    assert text.count("\n# ---") >= 6  # one commented section per stage
    parse_campaign(yaml.safe_load(text))
    for profile in ("small", "full"):
        c = parse_campaign(yaml.safe_load(demo_config_text(profile)))
        assert len(c.samples) == 15  # 14 of the study and C-CH50X, mislabelled on purpose (warnings demo)
    small = parse_campaign(yaml.safe_load(demo_config_text("small")))
    assert max(n for t in small.expected.values() for n in t.values()) <= 2


def test_the_c_yaml_parser_reads_every_shipped_yaml_as_the_pure_python_one_does():
    """The campaign, parameter sets and feature declarations are parsed by libyaml (foundation/yamlfile.py,
    a no-op re-run parses them all): each YAML file the project ships reads to the same values under
    PyYAML's pure-Python SafeLoader, and a tag that builds a Python object is refused by both."""
    from foundation import yamlfile

    root = Path(__file__).resolve().parents[2]
    if yaml.__with_libyaml__:
        assert yamlfile.CSafeLoader is yaml.CSafeLoader  # the C parser is the one in use
    shipped = [p for d in ("socscope", "tasks", "warehouse", "examples") for p in (root / d).rglob("*.yaml")]
    assert len(shipped) >= 10
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        assert yamlfile.safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader), path
    for loader in (yamlfile.safe_load, lambda t: yaml.load(t, Loader=yaml.SafeLoader)):
        with pytest.raises(yaml.YAMLError):
            loader("!!python/object/apply:os.system ['true']\n")
