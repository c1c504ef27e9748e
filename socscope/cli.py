"""`socscope` command line: init | demo | run | status | query | readers | gc | verify | validate | export |
retry | reprocess | ignore | unignore | explain | server | dashboard."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def default_config() -> str:
    """$SOCSCOPE_CONFIG, else ./campaign.yaml, else the demo's (so `socscope query` works after `socscope demo`)."""
    if os.environ.get("SOCSCOPE_CONFIG"):
        return os.environ["SOCSCOPE_CONFIG"]
    for candidate in ("campaign.yaml", "demo/campaign.yaml"):
        if Path(candidate).exists():
            return candidate
    return "campaign.yaml"


def prefect_env(home: Path) -> str:
    """Settings Prefect must see before it is imported: the API of the run — a running server's, else an
    embedded one started lean (socscope/prefect_api.py), in the background — and ``home`` as PREFECT_HOME
    (STACK_NOTES: start-up timeout, telemetry). Returns the server's URL or "embedded"."""
    from socscope.prefect_api import choose_api, start_embedded

    api = choose_api(home)
    if api == "embedded":
        start_embedded()
    return api


class _StageBars:
    """The terminal's view of a run: one bar per stage (intake, each technique, marts) with counts,
    elapsed time and the item it just finished; fed by foundation.progress listeners."""

    def __init__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bars = Progress(TextColumn("{task.description:<16}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("{task.fields[current]}", style="dim"))
        self.ids: dict[str, int] = {}

    def __call__(self, label: str, done: int, total: int, current: str = "") -> None:
        if label not in self.ids:
            self.ids[label] = self.bars.add_task(label, total=total or None, current="")
        self.bars.update(self.ids[label], completed=done, total=total or None, current=current)

    def __enter__(self):
        from foundation.progress import listening

        self.bars.__enter__()
        self._listening = listening(self)
        self._listening.__enter__()
        return self

    def __exit__(self, *exc):
        self._listening.__exit__(*exc)
        return self.bars.__exit__(*exc)


#: values up to this long (a count, a verdict, a sample id) are never broken; longer ones wrap and fold
WHOLE_VALUE_CHARS = 16
#: a header word up to this long stays whole; a longer one ("quarantined") may fold in a narrow terminal
WHOLE_HEADER_CHARS = 8


def _print_table(rows, columns, title=None, multiline=("reason",)) -> None:
    """A table that fits the terminal and cuts nothing; ``multiline`` columns keep their line breaks
    (a reason listing failed checks), every other cell is one line (a file name is never two)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from foundation.text import shown

    keeps_lines = [c in multiline for c in columns]
    cells = [[Text("" if v is None else "\n".join(map(shown, str(v).split("\n"))) if keep else shown(str(v)))
              for v, keep in zip(r, keeps_lines)] for r in rows]  # plain text: a file name is data, never markup
    t = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    needed = 2 * (len(columns) - 1)  # a space of padding and a one-space rule between columns
    for i, c in enumerate(columns):
        longest = max((len(row[i].plain) for row in cells), default=0)
        # short values and header words keep their width; a word longer than its column (a path, a
        # setting's name) folds onto the next line instead of ending in "…": nothing is cut
        whole = max(longest if longest <= WHOLE_VALUE_CHARS else 0, min(len(str(c)), WHOLE_HEADER_CHARS))
        t.add_column(str(c), overflow="fold", min_width=whole or None)
        needed += whole or WHOLE_HEADER_CHARS
    for row in cells:
        t.add_row(*row)
    console = Console()
    if needed <= console.width:
        console.print(t)
    else:  # too many columns for this terminal: one block per row, every value whole
        _print_records(console, title, [str(c) for c in columns], cells)


def _print_records(console, title, columns: list[str], cells) -> None:
    from rich.table import Table

    if title:
        console.print(title)
    for row in cells:
        block = Table.grid(padding=(0, 1))
        block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for name, value in zip(columns, row):
            block.add_row(name, value)
        console.print(block)
        console.print()


def cmd_init(args) -> int:
    from importlib import resources

    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to overwrite", file=sys.stderr)
        return 1
    path.write_text(resources.files("socscope").joinpath("default_campaign.yaml").read_text(encoding="utf-8"))
    print(f"wrote {path}: edit samples, cells and shares, then `socscope status --config {path}`")
    return 0


def _nothing_new(config: Path, campaign) -> dict | None:
    """The end-of-run summary when a run would find nothing to do (tasks/nothing_new.py), else None
    after saying what is new. Asked before Prefect is even imported: a no-op re-run costs a stat of
    the shares and a few catalog queries, not the embedded API's start."""
    from tasks import pipeline
    from tasks.nothing_new import nothing_new_summary, what_is_new

    wh = pipeline.open_warehouse(campaign)
    news = what_is_new(campaign, wh)
    if news:
        print("new since the last run: " + "; ".join(news[:4]) + ("; ..." if len(news) > 4 else ""))
        return None
    print("nothing new: no new or changed file on the shares, nothing pending, marts up to date "
          "(--force-flow runs the flow anyway)")
    return {**nothing_new_summary(campaign, wh), "findings": _findings_verdicts(config, wh)}


def _run_campaign(config: Path, techniques, local: bool, force_flow: bool = False) -> dict:
    """Run the campaign (locally or as the Prefect flow in this process) with a bar per stage; with
    nothing new (and not ``force_flow``), only the summary of the warehouse as it is."""
    from foundation import deferred
    from foundation.config import load_campaign
    from foundation.progress import announce

    if not force_flow:  # a run that may find nothing: pandas is imported once there is something (deferred.py)
        deferred.defer("pandas")
    campaign = load_campaign(config)
    if not force_flow:
        unchanged = _nothing_new(config, campaign)
        if unchanged is not None:
            return unchanged
    deferred.load("pandas")  # work to do: the real pandas now, in this thread, before any worker thread

    if local:
        from tasks import pipeline
        from warehouse import marts

        with pipeline.open_warehouse(campaign).run_lock(), _StageBars():
            intake, processed = pipeline.run_local(campaign, techniques, progress=announce)
            wh = pipeline.open_warehouse(campaign)
            built = marts.build_marts(campaign, wh, "local", progress=announce)
        return {**pipeline.run_summary(campaign, wh), "intake": [intake.__dict__], "process": processed.__dict__,
                "marts": built}
    api = prefect_env(config.parent / ".prefect")
    print(f"Prefect: the server at {api}" if api != "embedded" else
          "Prefect: an embedded API for this run (`socscope server up` keeps a server that runs start at once)")
    return _run_flow(campaign, config, techniques, embedded=api == "embedded")


def _run_flow(campaign, config: Path, techniques, embedded: bool) -> dict:
    """The campaign flow in this process. Prefect and the flows are imported in a thread while this one
    takes the shares' new files into the raw store, up to the commit (which needs the run's id: the
    flow run commits them); an embedded API is still starting meanwhile, and is waited for only where
    Prefect first calls it."""
    from concurrent.futures import ThreadPoolExecutor

    from flows._runtime import WRITE_LIMIT, LoadedCampaign, guarded_warehouse
    from foundation.progress import announce
    from socscope.prefect_api import wait_for_api
    from tasks import pipeline

    loaded, wh = LoadedCampaign.of(campaign, str(config)), guarded_warehouse(campaign)
    with _StageBars(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefect-imports") as pool:
        imported = pool.submit(_flow_imports)
        try:
            loaded.with_prepared_intake(pipeline.prepare_intake(
                campaign, wh, pipeline.run_shares(campaign, techniques), progress=announce))
        except OSError as exc:  # a share's I/O: the run's intake task takes the shares, with its retries
            print(f"taking the shares' files before the run failed ({exc}); the run takes them, with retries")
        campaign_flow, get_client, no_heartbeats, prompt_heartbeats = imported.result()
        wait_for_api()
        if not wh.is_local:  # one writer at a time where no file lock serialises them (flows._runtime)
            with get_client(sync_client=True) as client:
                client.upsert_global_concurrency_limit_by_name(WRITE_LIMIT, 1)
        # an embedded API lives and dies with this process: nobody can read its runs' heartbeats; a
        # server's are sent by a thread that does not keep the person waiting at the run's end
        with no_heartbeats() if embedded else prompt_heartbeats():
            return campaign_flow(loaded, techniques)


def _flow_imports():
    """What a flow run needs of Prefect (~1.5-2 s of imports), imported beside the intake."""
    from prefect.client.orchestration import get_client

    from flows._runtime import no_heartbeats, prompt_heartbeats
    from flows.campaign import campaign_flow

    return campaign_flow, get_client, no_heartbeats, prompt_heartbeats


def _report(summary: dict, config: Path) -> None:
    """The end of a run: what it did, what the warehouse holds, what was refused, where to look next."""
    _print_table([(t["table"], t["rows"], t["files"]) for t in summary["tables"]], ["table", "rows", "files"],
                 title=f"rows per table (manifest v{summary['manifest_version']})")
    if summary["quarantine"]:
        _print_table([(q["technique"], q["original_name"], q["stage"], q["reason"]) for q in summary["quarantine"]],
                     ["technique", "file", "stage", "reason"], title="quarantined (raw files kept in the raw store)")
    print("\n" + _run_sentence(summary))
    print_warnings(summary.get("warnings", []))
    verdicts = summary["findings"] if "findings" in summary else _findings_verdicts(config)
    if verdicts:
        print("findings: " + ", ".join(f"{n} {v}" for v, n in verdicts))
    print(f"\nlook at (warehouse {summary['warehouse']}):")
    report = (summary.get("marts") or {}).get("report")
    if report:
        print(f"  report     {report}")
    print(f"  dashboard  socscope dashboard --config {config}")
    print(f"  status     socscope status --config {config}")
    print(f"  query      socscope query --config {config} \"select technique, count(*) from raw_files group by 1\"")


def _run_sentence(summary: dict) -> str:
    """One sentence of what this run did, from the intake and process summaries of the flow."""
    intake, processed = summary.get("intake") or [], summary.get("process") or {}
    new = sum(s.get("new_files", 0) for s in intake if isinstance(s, dict))
    seen = sum(s.get("seen", 0) for s in intake if isinstance(s, dict))
    quarantined = len(processed.get("quarantined", []))
    return (f"this run: {new} new of {seen} files seen; {processed.get('processed', 0)} processed, "
            f"{quarantined} quarantined, {processed.get('rows', 0)} rows written"
            + ("" if quarantined else "; no file quarantined"))


def _findings_verdicts(config: Path, wh=None) -> list[tuple[str, int]]:
    """Findings verdicts counted (pass/fail/...), or nothing when the marts were not built."""
    from foundation.config import load_campaign
    from tasks import pipeline

    wh = wh or pipeline.open_warehouse(load_campaign(config, parameters=False))
    if "findings" not in wh.manifest().tables:
        return []
    found = wh.rows("select verdict, count(*) as n from findings group by 1 order by 1")
    return [(str(r.verdict), int(r.n)) for r in found]


def print_warnings(warnings) -> None:
    """The campaign's warnings (warehouse/warnings.py): a count per code and the first few of each."""
    from warehouse.warnings import warning_lines

    print("\n".join(["", "warnings (socscope query \"select * from warnings\"):", *warning_lines(warnings)]))


def cmd_demo(args) -> int:
    from socscope.demo import write_demo_once

    root = Path(args.dir or ("demo" if args.campaign == "ncm622" else f"demo-{args.campaign}")).resolve()
    t0 = time.monotonic()
    if write_demo_once(root, args.profile, args.seed, campaign_name=args.campaign):
        print(f"demo files written under {root / 'share'} ({time.monotonic() - t0:.1f} s)")
    else:
        print(f"demo files already under {root / 'share'} (same profile and seed): not written again")
    if args.no_run:
        return 0
    summary = _run_campaign(root / "campaign.yaml", None, args.local, args.force_flow)
    _report(summary, root / "campaign.yaml")
    return 0


def cmd_run(args) -> int:
    config = Path(args.config).resolve()
    summary = _run_campaign(config, args.technique or None, args.local, args.force_flow)
    _report(summary, config)
    return 1 if (args.strict and summary["quarantine"]) else 0


def cmd_status(args) -> int:
    import json

    from foundation.config import load_campaign
    from socscope import status as S
    from tasks import pipeline

    campaign = load_campaign(args.config)
    wh = pipeline.open_warehouse(campaign)
    report = S.status_json(campaign, wh.query)
    if args.format == "json":
        print(json.dumps(report, indent=1))
    else:
        _status_tables(report, args.ignored)
        status_warnings(wh)
    return 1 if (report["incomplete"] and args.strict) else 0


def _status_tables(report: dict, ignored: bool) -> None:
    rows = report["samples"]
    cols = ["sample_id", "technique", "expected", "received", "processed", "quarantined", "ignored", "verdict"]
    cols += ["warnings"] if rows and "warnings" in rows[0] else []
    _print_table([[r[c] for c in cols] for r in rows], [c.replace("_id", "") for c in cols],
                 title=f"campaign {report['campaign']}: complete only when processed >= expected")
    if report["quarantine"]:
        _print_table([(q["technique"], q["original_name"], q["reason"]) for q in report["quarantine"]],
                     ["technique", "file", "reason"], title="quarantine")
    if ignored:
        _print_table([(i["how"], i["technique"], i["sample_id"], i["original_name"], i["why"], i["who"])
                      for i in report["ignored"]], ["how", "technique", "sample", "file", "why", "who"],
                     title="ignored (never taken, counted or quarantined)")
    elif report["ignored"]:
        print(f"{len(report['ignored'])} files ignored (not data): socscope status --ignored")


def status_warnings(wh) -> None:
    """The warnings section of `socscope status`: every current warning, by code."""
    from warehouse.warnings import campaign_warnings

    print_warnings(campaign_warnings(wh))


def _named_query(name: str, given: list[str]) -> tuple[str, dict[str, str]]:
    """SQL and bound parameters of a query of the library; KeyError with a one-line reason."""
    from warehouse.queries import bind

    malformed = [p for p in given if "=" not in p or not p.split("=", 1)[0].strip()]
    if malformed:
        raise KeyError(f"--param takes name=value, got {malformed[0]!r}")
    return bind(name, dict(p.split("=", 1) for p in given))


def _write_answer(df, args) -> int:
    if args.format == "csv":
        out = df.to_csv(index=False)
        (Path(args.out).write_text(out) if args.out else sys.stdout.write(out))
    elif args.format == "parquet":
        if not args.out:
            print("--format parquet needs --out FILE", file=sys.stderr)
            return 2
        df.to_parquet(args.out, index=False)
    else:
        _print_table(df.head(args.limit).itertuples(index=False), list(df.columns),
                     title=f"{len(df)} rows" + (f" (first {args.limit})" if len(df) > args.limit else ""))
    return 0


def cmd_query(args) -> int:
    params: dict[str, str] = {}
    if args.list:
        from warehouse.queries import list_queries

        _print_table([(q.name, q.description, ", ".join(f"{k}={v}" for k, v in q.params.items()))
                      for q in list_queries()], ["name", "answers", "params"], title="query library")
        return 0
    if args.name:
        try:
            sql, params = _named_query(args.name, args.param)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    elif args.sql:
        sql = args.sql
    else:
        print("give SQL, --name NAME or --list", file=sys.stderr)
        return 2
    from socscope import query_cli

    answered = query_cli.run(args, sql, params, _print_table)  # a plain local warehouse: DuckDB alone, no pandas
    if answered is not None:
        return answered
    from socscope.client import open as open_warehouse
    from warehouse.user_sql import RefusedQuery

    with open_warehouse(args.config, timeout_s=args.timeout, max_rows=args.max_rows) as client:
        try:
            with warnings.catch_warnings():  # a cut answer is said below, as a note
                warnings.simplefilter("ignore")
                frame = client.sql(sql, params)
        except RefusedQuery as exc:
            print(f"error: {exc}\nthe tables and views: socscope query \"show tables\"", file=sys.stderr)
            return 2
    if frame.attrs["truncated"]:
        print(f"note: the answer was cut at {args.max_rows} rows (--max-rows)", file=sys.stderr)
    return _write_answer(frame, args)


def cmd_gc(args) -> int:
    from foundation.config import load_campaign
    from tasks.pipeline import open_warehouse, raw_store_url
    from warehouse.store import collect_garbage, remove_temp_files

    campaign = load_campaign(args.config)
    age = args.min_age_hours * 3600
    removed = collect_garbage(open_warehouse(campaign), min_age_s=age, keep_manifests=args.keep_versions)
    temp = remove_temp_files(raw_store_url(campaign), campaign.storage.storage_options, min_age_s=age)
    print(f"removed {len(removed)} warehouse files that none of the last {args.keep_versions} manifest versions "
          f"references and {len(temp)} unfinished raw-store copies (left by crashed runs or superseded results, "
          f"older than {args.min_age_hours} h)")
    return 0


def cmd_verify(args) -> int:
    from foundation.config import load_campaign
    from tasks.pipeline import open_warehouse, raw_store_url
    from warehouse.verify import verify_warehouse

    campaign = load_campaign(args.config)
    report = verify_warehouse(open_warehouse(campaign), raw_store_url(campaign), campaign.storage.storage_options,
                              keep=args.keep_versions)
    for line in report.errors:
        print(f"error: {line}")
    for line in report.warnings:
        print(f"warning: {line}")
    counts = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in report.checked.items())
    print(f"{'FAILED' if report.errors else 'ok'}: {len(report.errors)} errors, {len(report.warnings)} warnings "
          f"({counts} checked)")
    return 1 if report.errors else 0


def cmd_readers(args) -> int:
    import shutil
    import textwrap

    from tasks.catalogue import catalogue_markdown, reader_catalogue

    if args.markdown:
        print(catalogue_markdown())
        return 0
    width = max(60, min(shutil.get_terminal_size().columns, 120))
    for e in reader_catalogue():  # one block per reader, wrapped to the terminal
        print(f"{e.name}@{e.version}  [{', '.join(e.techniques)}]  {' '.join(e.suffixes)}")
        fields = [("reads", e.formats), ("detects", e.detects_on),
                  ("options", ", ".join(k for k, _ in e.options) or "none"), ("extra", e.extra or "none")]
        for label, text in fields:
            print(textwrap.fill(text, width, initial_indent=f"  {label:<8} ", subsequent_indent=" " * 11))
    print("\nshare options explained: docs/readers.md (socscope readers --markdown)")
    return 0


def cmd_validate(args) -> int:
    from foundation.config import load_campaign
    from tasks.pipeline import open_warehouse
    from warehouse.catalog import all_specs

    campaign = load_campaign(args.config)
    wh = open_warehouse(campaign)
    specs, present = all_specs(), wh.manifest().tables
    names = args.table or sorted(t for t in present if t in specs)
    unknown = [t for t in names if t not in present or t not in specs]
    if unknown:
        print(f"error: no table {unknown} in the warehouse; it has {sorted(present)}", file=sys.stderr)
        return 2
    try:
        from warehouse.gx_docs import table_frames, validate_tables
    except ModuleNotFoundError as exc:
        print(f"error: {exc.name} is not installed: pip install 'socscope[gx]'", file=sys.stderr)
        return 2
    docs = (Path(wh.root) if wh.is_local else Path(".")) / "reports" / "gx" if args.data_docs else None
    results = validate_tables(table_frames(wh, names, specs), docs)
    _print_table([(r.table, r.rows, r.expectations, "ok" if r.success else "FAILED", "; ".join(r.failed)[:300])
                  for r in results], ["table", "rows", "expectations", "state", "failed"],
                 title=f"Great Expectations suites from the table contracts (manifest v{wh.manifest().version})")
    if docs is not None:
        print(f"Data Docs: {docs / 'index.html'}")
    return 0 if all(r.success for r in results) else 1


class _VersionAction(argparse.Action):
    """``--version`` from the package metadata, looked up only when asked (the lookup costs start-up time)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from socscope.version import package_version

        print(f"socscope {package_version()}")  # on stdout, as argparse's own version action
        parser.exit()


FORCE_FLOW_HELP = ("run the flow even when nothing is new (by default a run first checks the shares by stat, the "
                   "pending work and the marts, and with nothing to do prints the summary without starting Prefect)")


#: command groups of optional modules (a module missing from an install leaves its commands out)
OPTIONAL_COMMANDS = ("socscope.server", "socscope.dashboard", "socscope.operator_cli", "socscope.export_cli")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (the docs site's CLI reference is generated from it)."""
    ap, sub = core_parser()
    add_optional_commands(sub)
    return ap


def core_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The command line without the optional command groups (none of their modules imported), and its
    subparsers, to which ``add_optional_commands`` adds them."""
    ap = argparse.ArgumentParser(prog="socscope", description=__doc__)
    ap.add_argument("--version", action=_VersionAction, help="show the installed version and exit")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("init", help="write a commented campaign config")
    p.add_argument("path", nargs="?", default="campaign.yaml")
    p.add_argument("--force", action="store_true")
    p.set_defaults(fn=cmd_init)

    p = sub.add_parser("demo", help="write the 14-sample demo campaign and run it through Prefect")
    p.add_argument("--dir", default=None, help="default: demo (ncm622), demo-olivine (olivine)")
    p.add_argument("--profile", choices=["small", "full"], default="small")
    p.add_argument("--seed", type=int, default=622)
    p.add_argument("--campaign", choices=["ncm622", "olivine"], default="ncm622",
                   help="ncm622: 14 NCM622 samples, five techniques; olivine: operando LiFePO4/FePO4 (SXPD + cycler)")
    p.add_argument("--no-run", action="store_true", help="only write the files")
    p.add_argument("--local", action="store_true", help="run without Prefect (debugging)")
    p.add_argument("--force-flow", action="store_true", help=FORCE_FLOW_HELP)
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("run", help="run the campaign flow on a config")
    p.add_argument("--config", default=None, help="campaign file (default: $SOCSCOPE_CONFIG, ./campaign.yaml, ./demo/campaign.yaml)")
    p.add_argument("--technique", action="append")
    p.add_argument("--local", action="store_true", help="run without Prefect (debugging)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file is quarantined")
    p.add_argument("--force-flow", action="store_true", help=FORCE_FLOW_HELP)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("status", help="expected, received, processed, quarantined, ignored files per sample x technique")
    p.add_argument("--config", default=None, help="campaign file (default: $SOCSCOPE_CONFIG, ./campaign.yaml, ./demo/campaign.yaml)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any sample x technique is not complete")
    p.add_argument("--format", choices=["table", "json"], default="table", help="json: for scripts")
    p.add_argument("--ignored", action="store_true", help="list the ignored files (patterns and decisions)")
    p.set_defaults(fn=cmd_status)

    p = sub.add_parser("query", help="SQL on the warehouse, opened read-only")
    p.add_argument("sql", nargs="?")
    p.add_argument("--config", default=None, help="campaign file (default: $SOCSCOPE_CONFIG, ./campaign.yaml, ./demo/campaign.yaml)")
    p.add_argument("--name", help="a query of warehouse/queries/NAME.sql")
    p.add_argument("--param", action="append", default=[], help="k=v for a named query")
    p.add_argument("--list", action="store_true", help="list the query library")
    p.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    p.add_argument("--out")
    p.add_argument("--limit", type=int, default=50, help="rows shown in the table view")
    p.add_argument("--max-rows", type=int, default=1_000_000, help="rows fetched at most (csv/parquet too)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before the query is stopped")
    p.set_defaults(fn=cmd_query)

    p = sub.add_parser("readers", help="the reader catalogue: formats, detection, options, extras")
    p.add_argument("--markdown", action="store_true", help="print docs/readers.md")
    p.set_defaults(fn=cmd_readers)

    p = sub.add_parser("gc", help="delete orphaned warehouse data files (crashed runs, superseded results)")
    p.add_argument("--config", default=None)
    p.add_argument("--min-age-hours", type=float, default=24.0,
                   help="only files at least this old, so that a run still writing is never touched")
    p.add_argument("--keep-versions", type=int, default=20, help="manifest versions whose files are kept")
    p.set_defaults(fn=cmd_gc)

    p = sub.add_parser("verify", help="check every data and raw file against the manifest's and raw store's sha256")
    p.add_argument("--config", default=None)
    p.add_argument("--keep-versions", type=int, default=20, help="manifest versions checked (as gc keeps them)")
    p.set_defaults(fn=cmd_verify)

    p = sub.add_parser("validate", help="validate the current tables with Great Expectations suites generated "
                                        "from the table contracts (the gx extra)")
    p.add_argument("--config", default=None)
    p.add_argument("--table", action="append", help="only this table (repeat for several; default: every table)")
    p.add_argument("--data-docs", action="store_true", help="render GX Data Docs under <warehouse>/reports/gx/")
    p.set_defaults(fn=cmd_validate)

    return ap, sub


def add_optional_commands(sub) -> None:
    for module in OPTIONAL_COMMANDS:
        try:
            importlib.import_module(module).add_subcommand(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # A core command (query, run, status...) does not import the optional command groups' modules
    # (server, dashboard, operators, export: ~50 ms, a sixth of a one-row `socscope query`).
    ap, sub = core_parser()
    if next((a for a in argv if not a.startswith("-")), None) not in sub.choices:
        add_optional_commands(sub)
    args = ap.parse_args(argv)
    if getattr(args, "config", "unset") is None:
        args.config = default_config()
    try:
        return args.fn(args)
    except Exception as exc:  # noqa: BLE001 - the known ones get their exit code, the rest is re-raised
        code = _exit_code(exc)
        if code is None:
            raise
        return code


def _exit_code(exc: Exception) -> int | None:
    """Exit code of a failure the CLI reports in one line. The campaign loader is imported only to
    tell its ConfigError: a command that never loaded it (a fast `socscope query`) cannot raise one."""
    from warehouse.faults import RunInProgress, StorageError

    config = sys.modules.get("foundation.config")
    if config is not None and isinstance(exc, config.ConfigError):
        print(str(exc), file=sys.stderr)
        return 2
    if isinstance(exc, RunInProgress):  # not a failure: the running one does the work
        print(str(exc))
        return 0
    if isinstance(exc, StorageError):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, FileNotFoundError):
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return None


if __name__ == "__main__":
    sys.exit(main())
