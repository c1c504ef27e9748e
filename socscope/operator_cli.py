"""`socscope retry | reprocess | ignore | unignore | explain`: the operator's file commands.

The commands that change the warehouse run their Prefect flow (flows/operator.py, flows/reprocess.py)
on the configured API (an ephemeral one when none is set), as `socscope run` does; ``--local`` runs
them without Prefect. `explain` writes nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path


def _loaded(args):
    from foundation.config import load_campaign
    from tasks import pipeline

    campaign = load_campaign(args.config)
    return campaign, pipeline.open_warehouse(campaign)


def _prefect(args) -> None:
    from socscope.cli import prefect_env

    prefect_env(Path(args.config).resolve().parent / ".prefect")


def _print_summary(what: str, summary: dict) -> None:
    print(f"{what}: {summary.get('processed', 0)} files attempted, {len(summary.get('quarantined', []))} quarantined, "
          f"{summary.get('rows', 0)} rows")
    for line in summary.get("quarantined", []):
        print(f"  quarantined: {line}")


def cmd_retry(args) -> int:
    config = str(Path(args.config).resolve())
    if args.local:
        return _retry_local(args)
    _prefect(args)
    from flows.operator import retry_flow

    _print_summary("retry", retry_flow(config, args.technique or None, args.sample or None, args.file or None))
    return 0


def _retry_local(args) -> int:
    from flows import _ops
    from foundation.registry import ordered_techniques
    from tasks import pipeline

    campaign, wh = _loaded(args)
    summary = pipeline.ProcessSummary()
    with wh.run_lock():
        for name in ordered_techniques(args.technique or None):
            todo = _ops.select_work(campaign, wh, name, args.sample or None, force=True, files=args.file or None,
                                    quarantined_only=True)
            pipeline.process_items(wh, name, todo, "local", lambda part: [[
                pipeline.process_file(w, campaign, wh.url, "local")] for w in part], summary)
            if todo:
                pipeline.finalize_technique(campaign, wh, name, "local")
    _print_summary("retry", summary.__dict__)
    return 0


def cmd_reprocess(args) -> int:
    _prefect(args)
    from flows.reprocess import reprocess_flow

    summary = reprocess_flow(str(Path(args.config).resolve()), args.technique, params=args.params,
                             samples=args.sample or None, force=args.force, files=args.file or None)
    _print_summary(f"reprocess {args.technique} ({summary['params_id']})", summary)
    return 0


def cmd_decide(args) -> int:
    from tasks.operations import NoSuchFile

    action = args.cmd
    why = args.why or ("" if action == "ignore" else "ignored by mistake")
    try:
        if args.local:
            from tasks import operations

            campaign, wh = _loaded(args)
            names = [f"{t.share}:{t.path}" if t.share else t.key
                     for t in operations.decide(campaign, wh, args.file, action, why, args.who)]
            print(f"{action}d {len(names)} file(s): {', '.join(names)} — {why}")
        else:
            _prefect(args)
            from flows.operator import decide_flow

            decide_flow(str(Path(args.config).resolve()), args.file, action, why, args.who)
    except (NoSuchFile, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_explain(args) -> int:
    import json

    from tasks.explain import explain
    from tasks.operations import NoSuchFile

    campaign, wh = _loaded(args)
    try:
        out = explain(campaign, wh, args.file)
    except NoSuchFile as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps({"file": out.file, "outcome": out.outcome, "steps": out.steps, "tables": out.tables}, indent=1))
        return 0
    from socscope.cli import _print_table

    _print_table(out.steps, ["step", "answer"], title=f"{args.file}: {out.outcome} (dry run, nothing written)")
    return 0


def _filters(p) -> None:
    p.add_argument("--technique", action="append", default=[], help="only this technique (repeatable)")
    p.add_argument("--sample", action="append", default=[], help="only samples matching this glob (repeatable)")
    p.add_argument("--file", action="append", default=[], help="only files: sha256 prefix, or a glob on share "
                   "paths and names (repeatable)")


def add_subcommand(sub) -> None:
    config = "campaign file (default: $SOCSCOPE_CONFIG, ./campaign.yaml, ./demo/campaign.yaml)"
    p = sub.add_parser("retry", help="attempt quarantined files again, now (after a fix)")
    p.add_argument("--config", default=None, help=config)
    _filters(p)
    p.add_argument("--local", action="store_true", help="run without Prefect (debugging)")
    p.set_defaults(fn=cmd_retry)

    p = sub.add_parser("reprocess", help="recompute a technique's files (done ones too with --force)")
    p.add_argument("--config", default=None, help=config)
    p.add_argument("--technique", required=True)
    p.add_argument("--sample", action="append", default=[], help="only samples matching this glob (repeatable)")
    p.add_argument("--file", action="append", default=[], help="only files: sha256 prefix or glob (repeatable)")
    p.add_argument("--params", help="another parameter-set file (relative to the config)")
    p.add_argument("--force", action="store_true", help="done files again too")
    p.set_defaults(fn=cmd_reprocess)

    for action, text in (("ignore", "a person's decision that a file is not data: never processed nor quarantined"),
                         ("unignore", "undo `socscope ignore`: the next run takes the file")):
        p = sub.add_parser(action, help=text)
        p.add_argument("file", help="sha256 (prefix), SHARE:PATH, a path inside a share, or a glob")
        p.add_argument("--why", required=action == "ignore", help="kept with the decision, for the people after you")
        p.add_argument("--who", help="who decides (default: your account)")
        p.add_argument("--config", default=None, help=config)
        p.add_argument("--local", action="store_true", help="run without Prefect (debugging)")
        p.set_defaults(fn=cmd_decide)

    p = sub.add_parser("explain", help="dry run on one file: share, pattern, sample, reader and why, what it would write")
    p.add_argument("file", help="sha256 (prefix), SHARE:PATH, a path inside a share, or a glob")
    p.add_argument("--config", default=None, help=config)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(fn=cmd_explain)
