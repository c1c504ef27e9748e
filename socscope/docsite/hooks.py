"""mkdocs hooks (``hooks:`` in mkdocs.yml): add the generated pages to the build without writing
them into docs/, and fill the nav's ``generated:*`` placeholders."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the build imports the repository's packages, installed or not
    sys.path.insert(0, str(ROOT))

from socscope.docsite import generated_nav, generated_pages  # noqa: E402


def _fill(nav, placeholders):
    if isinstance(nav, list):
        return [_fill(item, placeholders) for item in nav]
    if isinstance(nav, dict):
        return {k: placeholders.get(v, v) if isinstance(v, str) else _fill(v, placeholders) for k, v in nav.items()}
    return nav


_PAGES: dict[str, str] = {}


def on_config(config):
    _PAGES.clear()
    _PAGES.update(generated_pages())  # once per build: the nav and the files need them
    config["nav"] = _fill(config["nav"], generated_nav(_PAGES))
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for rel, text in _PAGES.items():
        if files.get_file_from_path(rel) is not None:
            raise RuntimeError(f"docs/{rel} exists and is also generated: delete the hand-written copy")
        files.append(File.generated(config, rel, content=text))
    return files
