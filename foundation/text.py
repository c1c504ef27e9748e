"""Text as people see it in one line (a log line, a table cell, a row of `socscope query`)."""
from __future__ import annotations


def shown(name: str) -> str:
    """A share path as it may appear in a log line, a summary or a table cell: control characters
    (a newline in a file name) escaped, so that one name is always one line."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
