"""Internal SQL binds its values as parameters; SQL text is assembled from strings only where an
identifier or a path must be spelled out, and each such place is listed in sql_allowlist.tsv with
why it is safe. A new f-string / % / .format / + that builds SQL fails here (issue 16)."""
from __future__ import annotations

import ast
import csv
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("foundation", "socscope", "tasks", "flows", "warehouse", "schemas")
ALLOWLIST = Path(__file__).with_name("sql_allowlist.tsv")
SQL_START = re.compile(r"^\s*\(?\s*(SELECT|INSERT|CREATE|COPY|DELETE|UPDATE|WITH|ATTACH|DETACH|DROP|ALTER|PRAGMA|"
                       r"SET|RESET|INSTALL|LOAD|MERGE|EXPORT|IMPORT|DESCRIBE|SUMMARIZE|CALL|USE|FROM)\b", re.I)
PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*\}|%\(?\w*\)?s")


def _text(node: ast.AST) -> str | None:
    """The literal text a string expression starts with (formatted parts as '{}'), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp):
        return _text(node.left)
    return None


def _operands(node: ast.AST):
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield node.right
        node = node.left
    yield node


def _assembled_sql(node: ast.AST) -> str | None:
    """SQL text of ``node`` if it builds SQL from strings at run time."""
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        text = _text(node)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        text = _text(node.left)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [_text(o) for o in _operands(node)]
        text = next((t for t in parts if t and SQL_START.match(t)), None)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        recv = node.func.value
        name = recv.id if isinstance(recv, ast.Name) else recv.attr if isinstance(recv, ast.Attribute) else ""
        text = _text(recv) or ("SELECT (template " + name + ")" if name.upper().endswith("SQL") else None)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # a template filled elsewhere
        text = node.value if PLACEHOLDER.search(node.value) else None
    else:
        return None
    return text if text and SQL_START.match(text) else None


def _scan(path: Path) -> list[tuple[str, int, str]]:
    """(enclosing function, line, SQL head) of every string-assembled SQL in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[str, int, str]] = []
    inside_format: set[int] = set()

    def visit(node: ast.AST, scope: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = f"{scope}.{node.name}" if scope else node.name
        if id(node) not in inside_format:
            sql = _assembled_sql(node)
            if sql:
                found.append((scope or "<module>", node.lineno, " ".join(sql.split())[:60]))
                # one finding per expression: its own parts are not counted again
                inside_format.update(id(n) for n in ast.walk(node) if n is not node)
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, "")
    return found


def findings() -> Counter:
    out: Counter = Counter()
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for scope, _line, _sql in _scan(path):
                out[(path.relative_to(ROOT).as_posix(), scope)] += 1
    return out


def allowlist() -> dict[tuple[str, str], tuple[int, str]]:
    with ALLOWLIST.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t",
                                   quoting=csv.QUOTE_NONE))
    return {(r["file"], r["function"]): (int(r["count"]), r["reason"].strip()) for r in rows}


def test_every_allowlist_entry_gives_a_reason():
    for key, (_count, reason) in allowlist().items():
        assert len(reason) >= 20, f"{key}: say why this SQL assembly is safe"


def test_no_sql_is_assembled_from_strings_outside_the_allowlist():
    allowed = allowlist()
    found = findings()
    new = {k: n for k, n in found.items() if n > allowed.get(k, (0, ""))[0]}
    detail = [f"{f} {fn}: {n} place(s) (allowed {allowed.get((f, fn), (0,))[0]})" for (f, fn), n in sorted(new.items())]
    assert not new, ("SQL assembled from strings; bind values as parameters (wh.query(sql, [value])), or quote "
                     "identifiers from a fixed set and list the place in sql_allowlist.tsv with why it is safe:\n"
                     + "\n".join(detail))
    stale = sorted(k for k, (n, _r) in allowed.items() if found.get(k, 0) < n)
    assert not stale, f"allow-list entries with fewer occurrences than listed (lower the count or remove): {stale}"


def test_the_scanner_catches_each_way_of_building_sql(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "def f(v, t):\n"
        "    a = f\"select * from x where id = '{v}'\"\n"
        "    b = 'DELETE FROM x WHERE id = %s' % v\n"
        "    c = 'with q as (select {}) select 1'.format(v)\n"
        "    d = 'insert into t values (' + v + ')'\n"
        "    e = COUNT_SQL.format(col=t)\n"
        "    ok = con.execute('select * from x where id = ?', [v])\n"
        "    msg = f'selected {v} files'\n"
        "COUNT_SQL = 'select count({col}) from x'\n")
    heads = [sql.split()[0].lower() for _scope, _line, sql in _scan(src)]
    assert heads == ["select", "delete", "with", "insert", "select", "select"], heads
