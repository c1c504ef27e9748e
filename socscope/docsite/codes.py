"""Warning, flag and quarantine codes: the ones the code emits, collected from the code, and their
documentation (codes.yaml: meaning and what to do), one page per code."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from socscope.docsite.markdown import table

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
#: a code appended to a list of flags or reasons, a one-code list, or a string opening with "code: "
FLAG_PATTERNS = (
    re.compile(r"""(?:flags|reasons)\.(?:append\(|insert\(\s*\d+\s*,)\s*f?["']([a-z][a-z0-9_]+)["']"""),
    re.compile(r"""(?:flags|reasons)\s*\+?=\s*(?:[^\n]*?\belse\s*)?\[\s*f?["']([a-z][a-z0-9_]+)["']\s*\]"""),
    re.compile(r"""f?["']([a-z][a-z0-9]*(?:_[a-z0-9]+)+): """),
)
#: error_type values the pipeline writes (CamelCase string literals of tasks/pipeline.py)
ERROR_TYPE = re.compile(r"""["']([A-Z][a-z]+(?:[A-Z][a-z]+)*)["']""")
KINDS = {"warning": "Warnings", "flag": "Row flags", "quarantine": "Quarantine", "refusal": "Refusals at intake"}


@lru_cache(maxsize=1)
def documented() -> dict[str, dict[str, str]]:
    return yaml.safe_load((HERE / "codes.yaml").read_text(encoding="utf-8"))


def flag_codes(folder: Path) -> set[str]:
    """Flag codes written by the modules of one technique package (demo writers excluded)."""
    found: set[str] = set()
    for path in folder.glob("*.py"):
        if not path.name.startswith("demo"):
            text = path.read_text(encoding="utf-8")
            found |= {m for p in FLAG_PATTERNS for m in p.findall(text)}
    return found


def quarantine_codes() -> set[str]:
    """error_type values: the reader exceptions and contract failures, and the pipeline's own kinds."""
    from foundation.contract import MissingInformation, UnreadableFile
    from schemas.core import ContractViolation

    pipeline = (ROOT / "tasks" / "pipeline.py").read_text(encoding="utf-8")
    return {c.__name__ for c in (UnreadableFile, MissingInformation, ContractViolation)} | set(ERROR_TYPE.findall(pipeline))


def emitted_codes() -> dict[str, str]:
    """code -> where it comes from, for every code the registered techniques and the platform emit."""
    from foundation.registry import available_techniques, technique
    from socscope.docsite.techniques import prose_path

    out: dict[str, str] = {}
    for name in available_techniques():
        tech = technique(name)
        columns = {c.name for spec in tech.tables for c in spec.all_columns}
        # "column: why" is a null reason naming its column (schemas/nulls.py), not a code of its own
        out |= {code: f"{name} (flag)" for code in flag_codes(prose_path(tech).parent) - columns}
        out |= {code: f"{name} (warning)" for code in getattr(tech, "warnings", {}) or {}}
    out |= {code: "marts (warning)" for code in _marts_warnings()}
    out |= {code: "pipeline (quarantine)" for code in quarantine_codes()}
    return out | {"refused": "intake (refusal)"}


def _marts_warnings() -> set[str]:
    """Warning codes the platform's marts write themselves (``"code": "..."`` in warehouse/)."""
    pattern = re.compile(r"""["']code["']\s*:\s*["']([a-z][a-z0-9_]+)["']""")
    return {c for path in (ROOT / "warehouse").rglob("*.py") for c in pattern.findall(path.read_text(encoding="utf-8"))}


def code_page(code: str, entry: dict[str, str], source: str | None) -> str:
    emitted = f"Emitted by: {source}." if source else "Emitted by: not found in this build's code."
    return "\n".join([f"# `{code}`", "", f"*{entry['kind']}* · where: {entry['where']}", "", "## What it means", "",
                      entry["means"], "", "## What to do", "", entry["do"], "", emitted, ""])


def codes_pages() -> dict[str, str]:
    """codes/index.md and codes/<code>.md."""
    emitted, docs = emitted_codes(), documented()
    lines = ["# Warnings, flags and quarantine codes", "",
             "Every code the platform and the registered techniques emit, collected from the code; each has a "
             "page saying what it means and what to do. Warnings are in the `warnings` table (`socscope status`, "
             "the dashboard's campaign page); row flags in the `quality_flags`/`fit_flags` columns of the rows "
             "they concern; quarantine codes in the `quarantine` view (`socscope query \"select * from "
             "quarantine\"`).", ""]
    pages: dict[str, str] = {}
    for kind, title in KINDS.items():
        codes = sorted(c for c, e in docs.items() if e["kind"] == kind)
        lines += [f"## {title}", ""] + table(["code", "where", "means"], [
            [f"[`{c}`]({c}.md)", docs[c]["where"], docs[c]["means"]] for c in codes]) + [""]
        pages |= {f"codes/{c}.md": code_page(c, docs[c], emitted.get(c)) for c in codes}
    undocumented = sorted(set(emitted) - set(docs))
    if undocumented:
        lines += ["## Not yet documented", ""] + [f"- `{c}` ({emitted[c]})" for c in undocumented] + [""]
    return {"codes/index.md": "\n".join(lines), **pages}
