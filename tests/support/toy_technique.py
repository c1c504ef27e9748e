"""A minimal technique used only to test the framework (intake, registry, warehouse, flows).

Its two formats are trivial on purpose: what is under test here is the machinery around readers,
not parsing. Real formats are tested in tests/<technique>/ on real vendor files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from foundation.contract import Measurement, Reader, Technique, UnreadableFile
from schemas.core import Column, TableSpec

PARAMS = Path(__file__).with_name("toy_params.yaml")


class ToyCsvReader(Reader):
    name, version, techniques, suffixes = "toy-csv", "1", ("toy",), (".csv",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(b"#toy-csv")

    def read(self, path, options):
        lines = Path(path).read_text().splitlines()[1:]
        try:
            values = np.array([[float(v) for v in line.split(",")] for line in lines if line.strip()])
        except ValueError:
            raise UnreadableFile(f"{Path(path).name}: a toy-csv row is not two numbers; fix the export") from None
        if values.ndim != 2 or values.shape[1] != 2:
            raise UnreadableFile(f"{Path(path).name}: toy-csv needs two columns x,y")
        df = pd.DataFrame({"x_m": values[:, 0], "y_v": values[:, 1]})
        return Measurement("toy", "toy_series", df, {"x_m": "m", "y_v": "V"}, mode="A")


class ToyJsonReader(Reader):
    name, version, techniques, suffixes = "toy-json", "1", ("toy",), (".json",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip().startswith(b'{"toy"')

    def read(self, path, options):
        data = json.loads(Path(path).read_text())["toy"]
        df = pd.DataFrame({"x_m": np.asarray(data["x"], float), "y_v": np.asarray(data["y"], float)})
        return Measurement("toy", "toy_series", df, {"x_m": "m", "y_v": "V"}, mode="B")


TOY_VALUES = TableSpec("toy_values", "point", (
    Column("x_m", "float64", "m"), Column("y_v", "float64", "V", checks=(("finite", None),))))
TOY_SUMMARY = TableSpec("toy_summary", "sample", (
    Column("n_points", "int64", "1"), Column("mean_y_v", "float64", "V")), key=("sample_id",))


def process(m: Measurement, ctx) -> dict[str, pd.DataFrame]:
    scale = float(ctx.params.values["scale"]["factor"])
    df = m.data.copy()
    df["y_v"] = df["y_v"] * scale
    return {"toy_values": df}


def finalize(ctx) -> dict[str, pd.DataFrame]:
    df = ctx.query("select sample_id, count(*) as n_points, avg(y_v) as mean_y_v from current_toy_values "
                   "where sample_id is not null group by 1 order by 1")
    df["n_points"] = df["n_points"].astype("int64")
    df["measurement_id"] = "summary:" + df["sample_id"]
    return {"toy_summary": df}


TECHNIQUE = Technique(name="toy", readers=[ToyCsvReader(), ToyJsonReader()], tables=[TOY_VALUES, TOY_SUMMARY],
                      default_params=PARAMS, process=process, finalize=finalize, accepts=("toy_series",))
