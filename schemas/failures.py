"""A table contract's failures in words: one line per failed check, naming column, count, first rows.

pandera reports a frame of failure cases (column, check, value, row); people need "current_a: 1 null
at row 5540 — a blank line in the file?", not that frame printed as a dictionary.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

#: how each declared check (schemas.core.CHECKS) reads when a value fails it
_FAILED_CHECK = {
    "ge": "below {v}", "le": "above {v}", "gt": "not above {v}", "lt": "not below {v}",
    "between": "outside [{v[0]}, {v[1]}]", "isin": "not one of {v}", "finite": "not finite",
}
#: a likely cause per kind of failure, said as a question: the contract cannot know, the person can
_LIKELY_CAUSE = {
    "null": "a blank line or an empty cell in the file?",
    "duplicate": "the same record twice in the file, or two files for one measurement?",
    "range": "a unit or column mix-up in the file or its column map?",
}
SHOWN_ROWS = 3


def describe_failures(cases: pd.DataFrame) -> list[str]:
    """One sentence per (column, check) of a pandera failure-case frame, most failures first."""
    lines = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        lines.append((len(group), _sentence(str(column), str(check), group)))
    return [text for _, text in sorted(lines, key=lambda item: -item[0])]


def _sentence(column: str, check: str, group: pd.DataFrame) -> str:
    rows = _rows_text(group["index"])
    n = len(group)
    if check == "not_nullable":
        return f"{column}: {n} null{'s' if n > 1 else ''} at {rows} — {_LIKELY_CAUSE['null']}"
    if check.endswith("uniqueness"):
        value = group["failure_case"].iloc[0]
        return (f"{column}: {n} rows share a key value ({column} = {value!r}, at {rows}) — "
                f"{_LIKELY_CAUSE['duplicate']}")
    if check.startswith("dtype"):
        return f"{column}: wrong type, expected {check[len('dtype'):].strip('()')!s} — fix the reader's column types"
    kind, _, value_text = check.partition(" ")
    if kind in _FAILED_CHECK:
        values = ", ".join(f"{v} at row {i}" for v, i in zip(group["failure_case"].head(SHOWN_ROWS), group["index"]))
        more = f" (and {n - SHOWN_ROWS} more)" if n > SHOWN_ROWS else ""
        condition = _FAILED_CHECK[kind].format(v=_literal(value_text))
        return f"{column}: {n} value{'s' if n > 1 else ''} {condition}: {values}{more} — {_LIKELY_CAUSE['range']}"
    return f"{column}: {n} row{'s' if n > 1 else ''} failed {check} at {rows}"


def _rows_text(index: pd.Series) -> str:
    rows = [str(i) for i in index.dropna().head(SHOWN_ROWS)]
    if not rows:
        return "the whole column"
    more = f" and {index.notna().sum() - SHOWN_ROWS} more" if index.notna().sum() > SHOWN_ROWS else ""
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(rows) + more


def _literal(text: str) -> Any:
    """The check's bound as it was declared (its repr), back as a value for the sentence."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
