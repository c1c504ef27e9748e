"""The documentation site's generated pages (mkdocs: ``mkdocs.yml`` at the repository root).

Everything that the code already says is generated from it, never copied: the technique pages
(prose from each plugin's ``technique.md``, then readers, table contracts and parameter models),
the CLI reference (argparse), the SQL query library, the platform and marts tables, the reader
catalogue (``docs/readers.md``, kept equal to the registry by its own test) and the warning and
quarantine codes. ``generated_pages()`` is called by the mkdocs hook (``hooks.py``) at build time
and by ``python -m socscope.docsite OUT`` to write them out for reading.
"""
from __future__ import annotations


def technique_pages() -> dict[str, str]:
    from foundation.registry import available_techniques, technique
    from socscope.docsite.techniques import technique_page

    return {f"techniques/{name}.md": technique_page(technique(name)) for name in available_techniques()}


def generated_pages() -> dict[str, str]:
    """Site path (under the docs folder) -> Markdown of every generated page."""
    from socscope.docsite.codes import codes_pages
    from socscope.docsite.reference import cli_page, queries_page, tables_page

    return {**technique_pages(), "reference/cli.md": cli_page(), "reference/queries.md": queries_page(),
            "reference/tables.md": tables_page(), **codes_pages()}


def generated_nav(pages: dict[str, str]) -> dict[str, list]:
    """Nav entries of the generated sections, keyed by the placeholder mkdocs.yml holds."""
    codes = sorted(p for p in pages if p.startswith("codes/") and p != "codes/index.md")
    return {"generated:techniques": [p for p in pages if p.startswith("techniques/")],
            "generated:codes": ["codes/index.md"] + codes}
