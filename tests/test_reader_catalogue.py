"""The reader catalogue is generated from the registry and docs/readers.md is kept equal to it."""
from pathlib import Path

import pytest

from foundation.registry import all_readers
from socscope.cli import main
from tasks.catalogue import catalogue_markdown, reader_catalogue

DOC = Path(__file__).resolve().parents[1] / "docs" / "readers.md"


def test_catalogue_lists_every_registered_reader():
    assert {e.name for e in reader_catalogue()} == set(all_readers())


@pytest.mark.parametrize("entry", reader_catalogue(), ids=lambda e: e.name)
def test_every_reader_says_what_it_reads_and_how_it_recognises_it(entry):
    assert entry.formats.strip(), f"{entry.name}: set Reader.formats"
    assert entry.detects_on.strip(), f"{entry.name}: set Reader.detects_on"
    assert all(text.strip() for _, text in entry.options), f"{entry.name}: an option without a description"


def test_docs_page_is_the_generated_catalogue():
    assert DOC.read_text(encoding="utf-8") == catalogue_markdown() + "\n", (
        "docs/readers.md is stale: run `socscope readers --markdown > docs/readers.md`")


def test_readers_command_prints_the_catalogue(capsys):
    assert main(["readers", "--markdown"]) == 0
    assert capsys.readouterr().out == catalogue_markdown() + "\n"
    assert main(["readers"]) == 0
    assert "bruker-nanoscope" in capsys.readouterr().out
