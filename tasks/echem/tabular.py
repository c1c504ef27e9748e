"""Fast delimited-text loading shared by the text readers (pyarrow's CSV engine, pandas result)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from tasks.contract import UnreadableFile

NULLS = ["", "N/A", "NaN", "nan", "-"]


def column_names(header_line: str, first_row: str, delimiter: str) -> list[str]:
    """Names for a header whose trailing delimiter does not match the data rows (BioLogic, Maccor):
    drop empty trailing names, then pad so that the count equals the fields of the first data row."""
    names = [n.strip() for n in header_line.rstrip("\r\n").split(delimiter)]
    while names and names[-1] == "":
        names.pop()
    fields = first_row.rstrip("\r\n").split(delimiter)
    names += [f"_unnamed{i}" for i in range(len(fields) - len(names))]
    seen: dict[str, int] = {}
    unique = []
    for n in names:  # duplicate vendor names (two Temperature columns) must stay distinct
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n}.{seen[n] - 1}")
    return unique


def read_delimited(source: Path | io.BytesIO, *, skip_rows: int, delimiter: str, encoding: str = "utf8",
                   label: str, names: list[str] | None = None) -> pd.DataFrame:
    """The table whose header row follows ``skip_rows`` lines (or, with ``names``, whose data starts
    after ``skip_rows`` lines). Text columns stay text: callers convert what they need with
    ``canonical.numeric`` (which also accepts decimal commas)."""
    read = pacsv.ReadOptions(skip_rows=skip_rows, encoding=encoding, block_size=1 << 22,
                             column_names=names)
    parse = pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True)
    convert = pacsv.ConvertOptions(strings_can_be_null=True, null_values=NULLS)
    try:
        try:
            table = pacsv.read_csv(source, read_options=read, parse_options=parse, convert_options=convert)
        except pa.ArrowInvalid as exc:
            if names is None or "Expected" not in str(exc) or not isinstance(source, Path):
                raise
            # ragged rows: some exporters end only some lines with a delimiter; drop trailing ones
            data = re.sub(rb"[" + re.escape(delimiter.encode()) + rb"]+(\r?\n)", rb"\1", source.read_bytes())
            trimmed = list(names)
            while trimmed and trimmed[-1].startswith("_unnamed"):
                trimmed.pop()
            read = pacsv.ReadOptions(skip_rows=skip_rows, encoding=encoding, block_size=1 << 22, column_names=trimmed)
            table = pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{label}: the data table after line {skip_rows} cannot be parsed ({exc}); "
                             "the export may be truncated or use another delimiter") from None
    return table.to_pandas()
