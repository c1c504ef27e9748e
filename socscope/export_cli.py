"""`socscope export`: results in the field's formats, from a file or from the warehouse.

    socscope export file RAW OUT [--technique T] [--part P]   # OUT's suffix picks the format
    socscope export bdf MEASUREMENT_ID OUT [--config FILE]    # a cell's records from the warehouse
    socscope export package OUT [--config FILE] [--table T]   # the campaign as a Frictionless data package

Suffixes of ``export file``: .xye (patterns), .xdi (XAS), .bdf / .bdf.csv / .bdf.parquet (cycler
records, Battery Data Format), .gwy and .nc (AFM maps).
"""
from __future__ import annotations

import sys
from pathlib import Path

#: suffix of the output -> Measurement method
BY_SUFFIX = {".xye": "to_xye", ".xdi": "to_xdi", ".bdf": "to_bdf", ".csv": "to_bdf", ".parquet": "to_bdf",
             ".gwy": "to_gwy", ".nc": "to_netcdf"}


def cmd_export_file(args) -> int:
    import socscope

    method = BY_SUFFIX.get(Path(args.out).suffix.lower())
    if method is None:
        print(f"error: {args.out}: the suffix picks the format, one of {' '.join(BY_SUFFIX)}", file=sys.stderr)
        return 2
    measurement = socscope.read(args.raw, args.technique, part=args.part)
    out = getattr(measurement, method)(args.out)
    print(f"wrote {out} ({measurement.kind} of {Path(args.raw).name}, read by {measurement.reader})")
    return 0


def cmd_export_bdf(args) -> int:
    import socscope

    with socscope.open(args.config) as client:
        out = client.to_bdf(args.measurement_id, args.out)
    print(f"wrote {out}")
    return 0


def cmd_export_package(args) -> int:
    import socscope

    with socscope.open(args.config) as client:
        out = client.export_package(args.out, args.table or None)
    print(f"wrote {out}: check it with `frictionless validate {out}`")
    return 0


def _guarded(fn):
    """The errors an export meets (wrong kind, missing column, unknown table) as one line and exit 2."""
    def run(args) -> int:
        from foundation.contract import UnreadableFile

        try:
            return fn(args)
        except (TypeError, ValueError, KeyError, FileExistsError, UnreadableFile) as exc:
            print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
            return 2
    return run


def add_subcommand(sub) -> None:
    p = sub.add_parser("export", help="results in the field's formats: .xye, XDI, BDF, .gwy, NetCDF, data package")
    cmds = p.add_subparsers(dest="what", required=True)
    f = cmds.add_parser("file", help="one raw file, read as in a run, to the format of OUT's suffix")
    f.add_argument("raw")
    f.add_argument("out", help=f"output file; suffix one of {' '.join(BY_SUFFIX)}")
    f.add_argument("--technique", help="narrow reader detection to one technique")
    f.add_argument("--part", help="which measurement of a file that holds several (e.g. tey)")
    f.set_defaults(fn=_guarded(cmd_export_file))
    b = cmds.add_parser("bdf", help="one cycler record of the warehouse in the Battery Data Format")
    b.add_argument("measurement_id")
    b.add_argument("out", help="cell.bdf.csv or cell.bdf.parquet")
    b.add_argument("--config", default=None)
    b.set_defaults(fn=_guarded(cmd_export_bdf))
    k = cmds.add_parser("package", help="the campaign as a Frictionless data package with sha256 checksums")
    k.add_argument("out", help="a new (or empty) folder")
    k.add_argument("--config", default=None)
    k.add_argument("--table", action="append", help="only these tables (default: every table)")
    k.set_defaults(fn=_guarded(cmd_export_package))
