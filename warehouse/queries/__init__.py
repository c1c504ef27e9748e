"""The documented query library: one SQL file per question, with a header saying what it answers.

Parameters are written ``$name`` in the SQL and bound by DuckDB (never pasted into the text).
A file's header is its leading ``--`` comment block; ``-- param: name = default`` lines declare
its parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

QUERIES_DIR = Path(__file__).parent


@dataclass(frozen=True)
class NamedQuery:
    name: str
    sql: str
    description: str
    params: dict[str, str]


def load_query(name: str) -> NamedQuery:
    known = sorted(p.stem for p in QUERIES_DIR.glob("*.sql"))
    if name not in known:  # a name of the library, never a path to some other .sql file
        raise KeyError(f"no query named {name!r}; the library has: {', '.join(known)}")
    path = QUERIES_DIR / f"{name}.sql"
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    params = dict(m.groups() for m in (re.match(r"param:\s*(\w+)\s*=\s*(.*)", h) for h in header) if m)
    description = " ".join(h for h in header if not h.startswith("param:")).strip()
    return NamedQuery(name, text, description, params)


def list_queries() -> list[NamedQuery]:
    return [load_query(p.stem) for p in sorted(QUERIES_DIR.glob("*.sql"))]


def bind(name: str, given: dict[str, str]) -> tuple[str, dict[str, str]]:
    """SQL and the parameter values for DuckDB (defaults from the header, unknown names refused)."""
    q = load_query(name)
    unknown = set(given) - set(q.params)
    if unknown:
        raise KeyError(f"query {name!r} has no parameter {sorted(unknown)}; it takes {sorted(q.params)}")
    values = {**q.params, **given}
    used = set(re.findall(r"\$(\w+)", q.sql))
    return q.sql, {k: v for k, v in values.items() if k in used}
