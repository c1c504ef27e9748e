"""Rows of SQL a technique declares (quality checks, warnings): run on the current views, shape checked,
and a failure named by the technique and the declaration, so the plugin author knows what to fix."""
from __future__ import annotations

import pandas as pd

from warehouse.store import Warehouse


def missing_view(exc: Exception) -> bool:
    """The SQL names a view that does not exist (yet): the technique has no files processed."""
    text = str(exc)
    return "does not exist" in text or "not found" in text.lower()


def declared_rows(wh: Warehouse, kind: str, technique_name: str, name: str, sql: str,
                  columns: tuple[str, ...], missing_ok: bool = False) -> pd.DataFrame:
    """The rows of one declared ``kind`` ("quality check", "warning") named ``name``, with ``columns``;
    ``missing_ok``: no rows (instead of an error) when a view it reads does not exist yet."""
    try:
        df = wh.query(sql)
    except Exception as exc:
        if missing_ok and missing_view(exc):
            return pd.DataFrame(columns=list(columns))
        raise RuntimeError(f"{kind} {name!r} of technique {technique_name!r} does not run: {exc}; "
                           f"fix its SQL in the technique's declaration") from exc
    if df.shape[1] != len(columns):
        raise RuntimeError(f"{kind} {name!r} of technique {technique_name!r} yields {df.shape[1]} columns; "
                           f"it must yield {len(columns)}: {', '.join(columns)}")
    df.columns = list(columns)
    return df
