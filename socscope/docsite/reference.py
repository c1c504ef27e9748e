"""Reference pages generated from the code: the CLI (argparse), the SQL query library
(warehouse/queries) and the platform and marts table contracts."""
from __future__ import annotations

import argparse

from socscope.docsite.markdown import table
from socscope.docsite.tables import table_markdown


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """name -> parser of every sub-command."""
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_rows(parser: argparse.ArgumentParser) -> list[list[str]]:
    rows = []
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        name = ", ".join(f"`{o}`" for o in a.option_strings) or f"`{a.dest}` (positional)"
        choices = " / ".join(str(c) for c in a.choices) if a.choices else ""
        default = "" if a.default in (None, argparse.SUPPRESS, False, []) else f"`{a.default}`"
        rows.append([name, choices, default, a.help or ""])
    return rows


def cli_page() -> str:
    from socscope.cli import build_parser

    parser = build_parser()
    helps = {a.dest: a.help for a in _subparser_action(parser)._choices_actions}
    lines = ["# Command line", "", "Generated from the argument parser of `socscope/cli.py`.", "",
             "```text", parser.format_usage().strip(), "```", ""]
    for name, sub in subcommands(parser).items():
        lines += [f"## `socscope {name}`", "", helps.get(name) or "", "", "```text", sub.format_usage().strip(),
                  "```", ""]
        lines += table(["option", "choices", "default", "meaning"], _option_rows(sub)) + [""]
    return "\n".join(lines)


def _subparser_action(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def queries_page() -> str:
    from warehouse.queries import list_queries

    lines = ["# SQL query library", "",
             "Generated from `warehouse/queries/*.sql`. Run one with `socscope query --name NAME --param k=v`, "
             "or from Python with `socscope.open(...).sql(...)`. Parameters are bound by DuckDB, never pasted "
             "into the SQL.", ""]
    for q in list_queries():
        params = ", ".join(f"`{k}` (default `{v}`)" for k, v in q.params.items()) or "none"
        lines += [f"## `{q.name}`", "", q.description, "", f"Parameters: {params}", "", "```sql", q.sql.strip(),
                  "```", ""]
    return "\n".join(lines)


def tables_page() -> str:
    from schemas.marts import MART_TABLES
    from schemas.platform import PLATFORM_TABLES

    lines = ["# Platform and marts tables", "",
             "Generated from the table contracts (`schemas/platform.py`, `schemas/marts.py`); each technique's "
             "own tables are on its page. Units are also in every Parquet file's field metadata.", ""]
    for title, specs in (("Platform", PLATFORM_TABLES), ("Marts", MART_TABLES)):
        lines += [f"## {title}", ""]
        for spec in specs:
            lines += table_markdown(spec)
    return "\n".join(lines)
