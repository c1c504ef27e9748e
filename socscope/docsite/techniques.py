"""One page per registered technique: the plugin's own prose (``technique.md`` next to its
``process``), then its readers, tables and parameters, generated from the plugin's declarations."""
from __future__ import annotations

import inspect
from pathlib import Path

from foundation.contract import Technique
from socscope.docsite.markdown import table
from socscope.docsite.params import parameters_markdown
from socscope.docsite.tables import table_markdown

PROSE_FILE = "technique.md"


def prose_path(tech: Technique) -> Path:
    """Where a plugin keeps the science of its page: next to the module of its ``process``."""
    return Path(inspect.getfile(tech.process)).parent / PROSE_FILE


def technique_page(tech: Technique) -> str:
    prose = prose_path(tech)
    lines = prose.read_text(encoding="utf-8").splitlines() if prose.exists() else [
        f"# {tech.name}", "", f"The plugin has no `{PROSE_FILE}`: only its declarations are shown.", ""]
    lines += ["", "## Readers", "",
              f"Files of this technique are read by these readers (details: [reader catalogue](../readers.md)).", ""]
    lines += table(["reader", "reads", "suffixes"],
                   [[f"`{r.name}@{r.version}`", r.formats, " ".join(r.suffixes)] for r in tech.readers]) + [""]
    if tech.accepts:
        lines += [f"Measurement kinds processed: {', '.join(f'`{k}`' for k in tech.accepts)}.", ""]
    lines += ["## Tables", "", "Generated from the table contracts (`schemas/`). Every measurement table also "
              "carries the keys (`campaign, sample_id, technique, mode, measurement_id`) and the lineage "
              "(`raw_sha256, reader, params_id, flow_run_id, processed_at`).", ""]
    for spec in tech.tables:
        lines += table_markdown(spec)
    lines += parameters_markdown(tech.parameters, tech.default_params)
    if tech.checks:
        lines += ["## Quality checks", "", "Run after every processing run into the `quality` table:", ""]
        lines += [f"- `{name}`" for name in tech.checks] + [""]
    return "\n".join(lines) + "\n"
