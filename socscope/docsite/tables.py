"""Table sections generated from the table contracts (``schemas/``: TableSpec and Column)."""
from __future__ import annotations

from schemas.core import TableSpec
from socscope.docsite.markdown import table

CHECK_SIGNS = {"ge": "≥ {}", "le": "≤ {}", "gt": "> {}", "lt": "< {}", "finite": "finite"}


def check_text(kind: str, value) -> str:
    if kind == "between":
        return f"between {value[0]} and {value[1]}"
    if kind == "isin":
        return "one of " + ", ".join(str(v) for v in value)
    return CHECK_SIGNS.get(kind, kind + " {}").format(value)


def table_markdown(spec: TableSpec, level: str = "###") -> list[str]:
    """One table's contract: grain, key, then every column with type, unit, nullability, checks, meaning."""
    key = ", ".join(f"`{k}`" for k in spec.key) or "none"
    lines = [f"{level} `{spec.name}`", "", f"One row per {spec.grain}. Key: {key}"
             + (" (unique per `params_id`)." if spec.measurement and spec.key else "."), ""]
    rows = [[f"`{c.name}`", c.dtype, c.unit, "yes" if c.nullable else "no",
             "; ".join(check_text(k, v) for k, v in c.checks), c.description] for c in spec.all_columns]
    lines += table(["column", "type", "unit", "null", "checks", "meaning"], rows)
    lines += [""] + [f"- frame check: {desc}" for desc, _ in spec.frame_checks]
    return lines + [""]
