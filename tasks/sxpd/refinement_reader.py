"""External refinement tables (FullProf / GSAS-II / TOPAS exports): pattern → a, c, strain, Rwp.

Specification (what this reader accepts): a UTF-8 CSV, comma or semicolon separated, optional
``#`` comment lines before the header (``# program: FullProf`` is kept), then a header row with
- a pattern column: ``pattern``, ``file``, ``filename``, ``name``, ``run`` or ``scan``;
- ``a`` and ``c`` in Å (also ``a_angstrom``, ``a (A)``, ``a(Å)``...); optional esds ``a_esd`` /
  ``sigma_a`` / ``a_sigma``; optional ``volume``/``V``, ``strain``/``microstrain`` (in %), ``Rwp``
  (in %), ``GOF``/``chi``, ``program``.
Lattice parameters outside 1–100 Å mean the columns are not in Å: the file is refused with that reason.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile, quote_names

KIND = "refinement_table"
_ALIASES = {
    "pattern": ("pattern", "file", "filename", "name", "run", "scan", "pattern_name"),
    "a_angstrom": ("a", "a_angstrom", "a_a", "a(a)", "a(å)", "a_å", "a/å", "a/a"),
    "a_sigma_angstrom": ("a_esd", "esd_a", "sigma_a", "a_sigma", "a_err", "a_error", "a_sigma_angstrom"),
    "c_angstrom": ("c", "c_angstrom", "c_a", "c(a)", "c(å)", "c_å", "c/å", "c/a_angstrom"),
    "c_sigma_angstrom": ("c_esd", "esd_c", "sigma_c", "c_sigma", "c_err", "c_error", "c_sigma_angstrom"),
    "volume_a3": ("v", "volume", "vol", "volume_a3", "v(a3)", "v(å3)", "v(å^3)"),
    "microstrain_pct": ("strain", "microstrain", "strain_pct", "microstrain_pct", "strain(%)", "microstrain(%)"),
    "rwp_pct": ("rwp", "rwp_pct", "rwp(%)", "r_wp"),
    "gof": ("gof", "chi", "chi2", "goodness_of_fit", "s"),
    "program": ("program", "software"),
}
UNITS = {"row_index": "1", "pattern": "", "scan_number": "1", "program": "", "a_angstrom": "angstrom",
         "a_sigma_angstrom": "angstrom", "c_angstrom": "angstrom", "c_sigma_angstrom": "angstrom",
         "volume_a3": "angstrom^3", "microstrain_pct": "%", "rwp_pct": "%", "gof": "1"}


def _norm(name: str) -> str:
    return re.sub(r"\s+", "", name.strip().strip('"').lower()).replace("-", "_")


def _column_map(header: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in header:
        key = _norm(raw)
        for canonical, names in _ALIASES.items():
            if key in names and canonical not in found:
                found[canonical] = raw
    return found


def _split_comments(text: str) -> tuple[list[str], str]:
    lines = text.splitlines()
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i += 1
    return [ln.strip() for ln in lines[:i] if ln.strip()], "\n".join(lines[i:])


def _delimiter(line: str) -> str:
    return ";" if line.count(";") > line.count(",") else ","


class RefinementCsvReader(Reader):
    name = "refinement-csv"
    version = "1"
    techniques = ("sxpd",)
    suffixes = (".csv",)
    formats = ("refinement result tables (CSV, ',' or ';'): one row per pattern with a and c in Å, from "
               "TOPAS, GSAS-II or Rietveld scripts; '#' comment lines kept as metadata")
    detects_on = "a UTF-8 header row naming pattern, a and c columns (names mapped case-insensitively)"

    def sniff(self, head: bytes, name: str) -> bool:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            return False
        _, body = _split_comments(text)
        header = body.split("\n", 1)[0]
        cols = _column_map(header.split(_delimiter(header)))
        return {"pattern", "a_angstrom", "c_angstrom"} <= set(cols)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        import pandas as pd

        source = Path(path).name
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{source}: not UTF-8 text ({exc}); export the refinement table as UTF-8 CSV") from None
        comments, body = _split_comments(text)
        if not body.strip():
            raise UnreadableFile(f"{source}: no header row; a refinement table needs pattern, a and c columns")
        header = body.split("\n", 1)[0]
        sep = _delimiter(header)
        try:
            frame = pd.read_csv(io.StringIO(body), sep=sep, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, ValueError) as exc:
            raise UnreadableFile(f"{source}: malformed CSV ({exc}); rows must have as many fields as the header") from None
        cols = _column_map(list(frame.columns))
        missing = [c for c in ("pattern", "a_angstrom", "c_angstrom") if c not in cols]
        if missing:
            raise UnreadableFile(f"{source}: no column for {missing} among {quote_names(frame.columns)}; name them "
                                 f"pattern, a, c (see tasks/sxpd/refinement_reader.py for accepted names)")
        if frame.empty:
            raise UnreadableFile(f"{source}: the table has a header but no rows")
        out = pd.DataFrame({"row_index": np.arange(len(frame), dtype=np.int64),
                            "pattern": frame[cols["pattern"]].str.strip()})
        for canonical in ("a_angstrom", "a_sigma_angstrom", "c_angstrom", "c_sigma_angstrom", "volume_a3",
                          "microstrain_pct", "rwp_pct", "gof"):
            if canonical in cols:
                values = pd.to_numeric(frame[cols[canonical]].str.strip().replace("", None), errors="coerce")
                bad = frame[cols[canonical]].str.strip().ne("") & values.isna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise UnreadableFile(f"{source}: row {row + 1}, column {cols[canonical]!r} holds "
                                         f"{frame[cols[canonical]].iloc[row]!r}, not a number")
                out[canonical] = values.astype(float)
        for col in ("a_angstrom", "c_angstrom"):
            v = out[col]
            if v.isna().any() or not v.between(1.0, 100.0).all():
                raise UnreadableFile(f"{source}: column {cols[col]!r} has values outside 1–100 Å (e.g. "
                                     f"{v[~v.between(1.0, 100.0)].iloc[0] if (~v.between(1.0, 100.0)).any() else 'empty'}); "
                                     f"lattice parameters must be in Å")
        if "volume_a3" not in out:
            out["volume_a3"] = np.nan
        out["volume_a3"] = out["volume_a3"].fillna(np.sqrt(3.0) / 2.0 * out["a_angstrom"] ** 2 * out["c_angstrom"])
        meta_program = next((c.split(":", 1)[1].strip() for c in comments if ":" in c
                             and c.lstrip("# ").lower().startswith(("program", "software"))), None)
        out["program"] = frame[cols["program"]].str.strip() if "program" in cols else (meta_program or "")
        scan = out["pattern"].str.extract(r"(\d{4,})")[0]
        out["scan_number"] = pd.to_numeric(scan, errors="coerce").astype("Int64")
        meta = {"comments": "\n".join(comments), "n_rows": len(out), "program": meta_program,
                "columns": {k: v for k, v in cols.items()}}
        return Measurement(technique="sxpd", kind=KIND, data=out, units={c: UNITS[c] for c in out.columns}, meta=meta)
