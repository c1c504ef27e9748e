"""A minimal technique used only to test the framework (intake, registry, warehouse, flows).

It is the toy plugin package of tests/toy_plugin (``socscope_toy``), imported from the source tree:
the framework tests register it by module path, tests/platform/test_plugin_package.py installs it.
Real formats are tested in tests/<technique>/ on real vendor files.
"""
from tests.toy_plugin.socscope_toy.plugin import PARAMS, TECHNIQUE, finalize, process
from tests.toy_plugin.socscope_toy.readers import ToyCsvReader, ToyJsonReader
from tests.toy_plugin.socscope_toy.tables import TOY_SUMMARY, TOY_VALUES

__all__ = ["PARAMS", "TECHNIQUE", "TOY_SUMMARY", "TOY_VALUES", "ToyCsvReader", "ToyJsonReader", "finalize",
           "process"]
