"""`socscope query` on a local warehouse without the heavy half of the platform.

A one-row question takes DuckDB a few milliseconds; importing the campaign model (pydantic, fsspec),
pandas, pyarrow and Prefect took ten times that. So when the campaign file names a local warehouse
plainly (no ``${ENV}`` reference, no storage options, no URL), the query runs here on DuckDB alone:
the same locked, read-only snapshot and the same SELECT-only guard as every other path
(``warehouse.user_sql``). Anything else (object stores, secrets, ``--format csv|parquet``) returns None
and goes the general way, through ``socscope.client``.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def local_warehouse(target: str) -> Path | None:
    """The warehouse folder a campaign file (or folder) names, when that needs no more than its YAML;
    None when only the full campaign model can say (or the target is no campaign file)."""
    if "://" in target:
        return None
    path = Path(target)
    if path.is_dir() and (path / "campaign.yaml").is_file():
        path = path / "campaign.yaml"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if "${" in text:  # an environment reference: the loader resolves (and masks) it
        return None
    storage = plain_storage(text)
    if storage is None:
        from foundation.yamlfile import safe_load

        data = safe_load(text)
        storage = data.get("storage") if isinstance(data, dict) else None
    if not isinstance(storage, dict) or storage.get("storage_options") or not isinstance(storage.get("warehouse"), str):
        return None  # the model's default, options or a malformed entry: the loader decides and explains
    where = storage["warehouse"]
    if "://" in where:
        return None
    folder = Path(where) if Path(where).is_absolute() else path.parent.resolve() / where
    return folder.resolve() if (folder / "catalog.duckdb").exists() or (folder / "catalogs").is_dir() else None


#: the top-level ``storage:`` line, and one ``key: value`` line of its block with a value YAML reads as
#: a string whatever its resolver (a path with a slash, or a word that is no YAML 1.1 bool or null)
_STORAGE = re.compile(r"storage:(?:[ ]+#.*|[ ]*)")
_ENTRY = re.compile(r"( +)([a-z_]+):[ ]+([A-Za-z0-9_./][A-Za-z0-9_./-]*)(?:[ ]+#.*|[ ]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
#: what could make a column-0 line part of a value (quotes, block scalars, flow collections, anchors,
#: tags, directives, complex keys)
_NOT_PLAIN = set("\"'|>{}[]&*!%@`?")
#: line breaks to YAML that str.split("\n") does not split on
_YAML_BREAKS = set("\r\x85\u2028\u2029")


def plain_storage(text: str) -> dict[str, str] | None:
    """The ``storage:`` mapping of a campaign file when it is plainly written (``key: value`` lines of
    plain words or paths, nothing before it that a column-0 line could belong to), read without
    importing PyYAML (~25 ms of a one-row query); None when only YAML can say (then it is asked)."""
    text = text.replace("\r\n", "\n")
    if _YAML_BREAKS & set(text):
        return None
    lines = text.split("\n")
    # every column-0 line that is or could be a ``storage`` key, and document markers
    tops = [i for i, line in enumerate(lines) if line.startswith(("storage", "'", '"', "?", "---", "..."))]
    if len(tops) != 1 or not _STORAGE.fullmatch(lines[tops[0]]):
        return None
    for line in lines[:tops[0]]:
        content = "" if line.lstrip().startswith("#") else line.split(" #", 1)[0]
        if _NOT_PLAIN & set(content) or "\t" in content:
            return None
    out: dict[str, str] = {}
    indent = None
    for line in lines[tops[0] + 1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            break  # the next top-level key
        entry = _ENTRY.fullmatch(line)
        if entry is None or entry[2] in out or indent not in (None, entry[1]):
            return None
        indent, value = entry[1], entry[3]
        if "/" not in value and (not _WORD.fullmatch(value) or value.lower() in _YAML_WORDS):
            return None
        out[entry[2]] = value
    return out or None


def run(args: Any, sql: str, params: dict[str, str], print_table: Callable[..., None]) -> int | None:
    """Answer ``sql`` on the local warehouse of ``args.config`` and print it (``print_table`` draws it on a
    terminal); None when not possible here."""
    if args.format != "table":  # csv and parquet keep pandas' formatting of values
        return None
    folder = local_warehouse(args.config)
    if folder is None:
        return None
    from warehouse.user_sql import RefusedQuery, open_snapshot, run_user_sql_rows

    con = open_snapshot(folder)
    try:
        columns, rows, cut = run_user_sql_rows(con, sql, params, timeout_s=args.timeout, max_rows=args.max_rows)
    except RefusedQuery as exc:
        print(f"error: {exc}\nthe tables and views: socscope query \"show tables\"", file=sys.stderr)
        return 2
    finally:
        con.close()
    if cut:
        print(f"note: the answer was cut at {args.max_rows} rows (--max-rows)", file=sys.stderr)
    if sys.stdout.isatty():
        print_table(rows[:args.limit], columns, title=f"{len(rows)} rows"
                     + (f" (first {args.limit})" if len(rows) > args.limit else ""))
    else:
        print_plain(columns, rows[:args.limit])
        if len(rows) > args.limit:
            print(f"note: first {args.limit} of {len(rows)} rows shown (--limit, or --format csv for all)",
                  file=sys.stderr)
    return 0


def print_plain(columns: list[str], rows: list[tuple]) -> None:
    """Tab-separated lines, a header first: what a pipe or a file wants (no box drawing, no colour).
    NULL is an empty field; a tab or newline inside a value is escaped so that one row is one line."""
    from foundation.text import shown

    def cell(v: Any) -> str:
        return "" if v is None else shown(str(v))

    out = ["\t".join(map(cell, columns))]
    out += ["\t".join(map(cell, r)) for r in rows]
    sys.stdout.write("\n".join(out) + "\n")

