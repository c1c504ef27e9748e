"""What a technique declares (views, quality checks, marts features) is what the warehouse builds, and a
broken declaration stops the build with a message naming the technique, the file and the statement."""
import textwrap

import pytest

import foundation.registry as reg
from warehouse.catalog import ViewBuildError
from warehouse.marts.features import load_features
from warehouse.quality import run_checks
from warehouse.store import Warehouse


def register(monkeypatch, tmp_path, version: str = "a", **plugins: str) -> None:
    """Techniques made from the toy by ``dataclasses.replace(TECHNIQUE, <keyword source>)``, registered in
    the order given (a module each, so that the registry loads them as it loads any plugin; ``version``
    names new modules when a test registers a technique a second time)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = {}
    for name, changes in plugins.items():
        module = f"declared_{tmp_path.name}_{version}_{name}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(f"""
            from dataclasses import replace
            from pathlib import Path
            from tests.support.toy_technique import TECHNIQUE as TOY
            TECHNIQUE = replace(TOY, name={name!r}, {changes})
        """))
        modules[name] = f"{module}:TECHNIQUE"
    monkeypatch.setattr(reg, "TECHNIQUE_MODULES", modules)


def sql_file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return f"Path({str(path)!r})"


def test_a_view_that_does_not_build_fails_the_build_naming_technique_file_and_statement(tmp_path, monkeypatch):
    bad = sql_file(tmp_path, "bad.sql", "CREATE VIEW fine AS SELECT 1 AS one;\n"
                                        "CREATE VIEW broken AS SELECT no_such_column FROM toy_values;\n")
    register(monkeypatch, tmp_path, toy=f"views=[{bad}]")
    with pytest.raises(ViewBuildError) as err:
        Warehouse(str(tmp_path / "wh")).query("select 1")
    message = str(err.value)
    assert "technique 'toy'" in message and "bad.sql" in message
    assert "CREATE VIEW broken" in message and "no_such_column" in message


def test_views_are_built_in_dependency_order(tmp_path, monkeypatch):
    """``later`` reads a view of the toy: registered first, it builds only because it comes ``after`` the toy."""
    toy_views = sql_file(tmp_path, "toy.sql", "CREATE VIEW toy_points AS SELECT sample_id, y_v FROM toy_values")
    later_views = sql_file(tmp_path, "later.sql", "CREATE VIEW later_points AS SELECT count(*) AS n FROM toy_points")
    tables = "tables=[]"  # the toy's tables are declared once, by the toy
    register(monkeypatch, tmp_path, later=f"views=[{later_views}], after=('toy',), {tables}", toy=f"views=[{toy_views}]")
    assert Warehouse(str(tmp_path / "wh")).query("select n from later_points").n.tolist() == [0]

    register(monkeypatch, tmp_path, "b", later=f"views=[{later_views}], {tables}", toy=f"views=[{toy_views}]")
    with pytest.raises(ViewBuildError, match="technique 'later'"):
        Warehouse(str(tmp_path / "wh2")).query("select 1")


def test_quality_checks_are_the_techniques_and_carry_their_name(tmp_path, monkeypatch):
    register(monkeypatch, tmp_path, toy="checks={'always': \"select 'S1', true, 1.5, 'V', 'fine'\"}")
    campaign = type("Campaign", (), {"name": "c"})()
    out = run_checks(campaign, Warehouse(str(tmp_path / "wh")), "marts@1#x")
    assert out[["technique", "check_name", "subject", "passed", "value", "unit", "detail"]].values.tolist() == [
        ["toy", "always", "S1", True, 1.5, "V", "fine"]]

    register(monkeypatch, tmp_path, "b", toy="checks={'short': \"select 'S1', true\"}")
    with pytest.raises(RuntimeError, match="'short' of technique 'toy' yields 2 columns"):
        run_checks(campaign, Warehouse(str(tmp_path / "wh2")), "marts@1#x")


def test_marts_features_come_from_the_declaring_technique(tmp_path, monkeypatch):
    features = tmp_path / "features.yaml"
    features.write_text("features:\n  - {name: y, table: toy_values, column: y_v, observation: point}\n")
    register(monkeypatch, tmp_path, toy=f"features=Path({str(features)!r})")
    assert [(d.technique, d.name, d.unit) for d in load_features()] == [("toy", "y", "V")]

    features.write_text("features:\n  - {name: y, table: toy_values, column: no_such_column, observation: point}\n")
    with pytest.raises(ValueError, match="feature 'y' of technique 'toy'.*no column 'no_such_column'"):
        load_features()



def test_headline_features_are_the_ones_techniques_mark(tmp_path, monkeypatch):
    from socscope.dashboard.views import headline_features

    features = tmp_path / "features.yaml"
    features.write_text("features:\n  - {name: y, table: toy_values, column: y_v, observation: point, headline: true}\n"
                        "  - {name: x, table: toy_values, column: x_m, observation: point}\n")
    register(monkeypatch, tmp_path, toy=f"features=Path({str(features)!r})")
    assert headline_features() == ["toy::y"]
