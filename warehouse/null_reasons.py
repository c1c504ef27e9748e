"""The rule "no feature column holds a null without a reason in words", checked on a warehouse.

Each table's rule is declared with its contract (``TableSpec.nulls``); schemas/nulls.py turns it into
one SQL count per feature column: null or NaN values whose row (or parent row) gives no reason naming
the column, no declared flag word covering it, and no declared structural condition.
"""
from __future__ import annotations

import pandas as pd

from schemas.nulls import unexplained_nulls


def check_warehouse(wh) -> pd.DataFrame:
    """The rule over every table of the warehouse that has data, each with its registered contract:
    one row per (table, column) holding nulls without a reason (rows, one example id)."""
    from warehouse.catalog import all_specs

    specs = all_specs()
    present = [specs[name] for name in sorted(wh.manifest().tables) if name in specs]
    return unexplained_nulls(wh.query, present)
