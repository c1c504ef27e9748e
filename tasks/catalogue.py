"""The reader catalogue, generated from the registry: what each reader reads, how it recognises a
file, which share options it takes and which pip extra it needs. `socscope readers` prints it and
docs/readers.md holds it (a test keeps the two equal)."""
from __future__ import annotations

from dataclasses import dataclass

from foundation.registry import all_readers


@dataclass(frozen=True)
class ReaderEntry:
    name: str
    version: str
    techniques: tuple[str, ...]
    suffixes: tuple[str, ...]
    formats: str
    detects_on: str
    options: tuple[tuple[str, str], ...]
    extra: str


def reader_catalogue() -> list[ReaderEntry]:
    """One entry per registered reader, sorted by technique then name."""
    entries = [ReaderEntry(r.name, r.version, tuple(r.techniques), tuple(r.suffixes), r.formats, r.detects_on,
                           tuple(sorted(r.options_doc.items())), r.extra)
               for r in all_readers().values()]
    return sorted(entries, key=lambda e: (e.techniques, e.name))


def _options_text(entry: ReaderEntry) -> str:
    return "; ".join(f"`{key}`: {text}" for key, text in entry.options) or "none"


def catalogue_markdown() -> str:
    """docs/readers.md, from the registry."""
    lines = ["# Reader catalogue", "",
             "Generated from the registry by `socscope readers --markdown > docs/readers.md`; a test fails when",
             "this page and the code disagree. Detection is by content: the suffix only breaks ties, and a",
             "share can name a reader for a file pattern (`readers:` in the campaign config).", ""]
    for technique in sorted({t for e in reader_catalogue() for t in e.techniques}):
        lines += [f"## {technique}", "",
                  "| reader | reads | recognised by | suffixes | share options | extra |",
                  "|---|---|---|---|---|---|"]
        for e in (e for e in reader_catalogue() if e.techniques[0] == technique):
            cells = [f"`{e.name}@{e.version}`", e.formats, e.detects_on, " ".join(e.suffixes),
                     _options_text(e), f"`{e.extra}`" if e.extra else "—"]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
