"""`socscope query`'s fast path reads the warehouse's place from a plainly written ``storage:`` block
without PyYAML (socscope.query_cli.plain_storage). PyYAML is the independent judge here: whatever the
plain reader answers must be what YAML reads; anything it cannot be sure of must go to YAML (None)."""
from __future__ import annotations

from importlib import resources

import pytest
import yaml

from socscope.query_cli import plain_storage

#: the template (default_campaign.yaml) names ${ENV} variables in comments: it goes the general way
SHIPPED = ["demo_campaign.yaml", "demo_olivine_campaign.yaml"]


def yaml_storage(text: str):
    return yaml.safe_load(text).get("storage")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_campaign_files_are_read_plainly_and_as_yaml_reads_them(name):
    text = resources.files("socscope").joinpath(name).read_text(encoding="utf-8")
    fast = plain_storage(text)
    assert fast is not None, "the demo and template configs must take the fast path"
    assert fast == yaml_storage(text)


PLAIN = {
    "first": "storage:\n  warehouse: wh\n  raw_store: raw\nname: x\n",
    "comments and blanks": "# c 'quoted'\nname: x  # it's\n\nstorage:   # here\n\n  # note\n  warehouse: a/b  # c\n"
                           "  raw_store: /abs/raw\nsamples: []\n",
    "crlf": "name: x\r\nstorage:\r\n  warehouse: ./wh\r\n",
    "deep indent": "storage:\n      warehouse: wh-1\n",
}


@pytest.mark.parametrize("case", sorted(PLAIN))
def test_plain_blocks_are_read_as_yaml_reads_them(case):
    text = PLAIN[case]
    assert plain_storage(text) is not None
    assert plain_storage(text) == yaml_storage(text)


#: texts where a plain line-by-line reading could be wrong: YAML must be asked
UNSURE = {
    "a fake block inside a quoted value": 'name: "x\nstorage:\n  warehouse: evil\n"\nother: 1\n',
    "a fake block inside a block scalar": "note: |\n  x\nstorage:\n  warehouse: wh\n",
    "a second storage key": "storage:\n  warehouse: a\nstorage:\n  warehouse: b\n",
    "a quoted storage key later": "storage:\n  warehouse: a\n'storage':\n  warehouse: b\n",
    "a complex key later": "storage:\n  warehouse: a\n? storage\n: {warehouse: b}\n",
    "a flow mapping": "storage: {warehouse: wh}\n",
    "an anchor": "storage: &s\n  warehouse: wh\n",
    "a nested value": "storage:\n  warehouse:\n    path: wh\n",
    "a boolean word": "storage:\n  warehouse: yes\n",
    "null": "storage:\n  warehouse: Null\n",
    "a number": "storage:\n  warehouse: 1.5\n",
    "a date": "storage:\n  warehouse: 2024-01-01\n",
    "a hash inside a value": "storage:\n  warehouse: wh#1\n",
    "a quoted value": "storage:\n  warehouse: 'w h'\n",
    "mixed indentation": "storage:\n  warehouse: wh\n    raw_store: raw\n",
    "a duplicate key": "storage:\n  warehouse: a\n  warehouse: b\n",
    "a second document": "storage:\n  warehouse: a\n---\nstorage:\n  warehouse: b\n",
    "a bare CR line break": "name: x\rstorage:\r  warehouse: wh\r",
    "a Unicode line break": "name: x\u2028storage:\n  warehouse: wh\n",
    "an empty block": "storage:\nname: x\n",
}


@pytest.mark.parametrize("case", sorted(UNSURE))
def test_unsure_texts_go_to_yaml(case):
    assert plain_storage(UNSURE[case]) is None
