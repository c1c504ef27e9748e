"""The toy formats: ``#toy-csv`` text with x,y rows (mode A) and ``{"toy": {"x": [...], "y": [...]}}`` JSON
(mode B). Trivial on purpose: what the toy tests is the machinery around readers, not parsing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from foundation.contract import Measurement, Reader, UnreadableFile

KIND = "toy_series"


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
        return Measurement("toy", KIND, df, {"x_m": "m", "y_v": "V"}, mode="A")


class ToyJsonReader(Reader):
    name, version, techniques, suffixes = "toy-json", "1", ("toy",), (".json",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip().startswith(b'{"toy"')

    def read(self, path, options):
        data = json.loads(Path(path).read_text())["toy"]
        df = pd.DataFrame({"x_m": np.asarray(data["x"], float), "y_v": np.asarray(data["y"], float)})
        return Measurement("toy", KIND, df, {"x_m": "m", "y_v": "V"}, mode="B")
