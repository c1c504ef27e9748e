"""The toy's table contracts: every point of a series, and a per-sample summary from finalize."""
from schemas.core import Column, TableSpec

TOY_VALUES = TableSpec("toy_values", "point", (
    Column("x_m", "float64", "m"), Column("y_v", "float64", "V", checks=(("finite", None),))))
TOY_SUMMARY = TableSpec("toy_summary", "sample", (
    Column("n_points", "int64", "1"), Column("mean_y_v", "float64", "V")), key=("sample_id",))
