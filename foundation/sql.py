"""SQL text helpers shared by the app and the techniques: values are always bound as ``?``
parameters; only names that cannot be bound (columns chosen in code) go into SQL text, through here."""
from __future__ import annotations

import re


def ident(name: str) -> str:
    """A column name for SQL text, quoted; only plain names (lower case, digits, underscores) pass.
    Values never go into SQL text: they are bound as ``?`` (lists as ``?::VARCHAR[]``)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"not a column name: {name!r}")
    return f'"{name}"'
