"""Any delimited cycler export, mapped to canonical columns by the share's ``reader_options``:

    reader_options:
      columns: {time_s: "Test Time (s)", current_a: "I (mA)", voltage_v: "E (V)", timestamp: "Date"}
      scale: {current_a: 0.001}          # vendor unit -> canonical unit
      delimiter: ","   skip_rows: 0   timezone: Europe/Berlin

Without a mapping it reads files whose header already uses the canonical names (time_s, current_a,
voltage_v), e.g. re-imported platform exports.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.tabular import read_delimited

CANONICAL = ("time_s", "current_a", "voltage_v")


class GenericCsvReader(Reader):
    name = "generic-csv"
    version = "1"
    techniques = ("echem",)
    suffixes = (".csv", ".txt", ".tsv")

    def sniff(self, head: bytes, name: str) -> bool:
        lines = cn.text_lines(head, 1)
        return bool(lines) and all(c in lines[0] for c in CANONICAL)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"CSV {path.name}"
        mapping = dict(options.get("columns") or {c: c for c in CANONICAL})
        missing = [c for c in ("current_a", "voltage_v") if c not in mapping]
        if missing or ("time_s" not in mapping and "timestamp" not in mapping):
            raise UnreadableFile(f"{label}: reader_options.columns must map time_s (or timestamp), current_a and "
                                 f"voltage_v to the file's column names; missing {missing or ['time_s']}")
        frame = read_delimited(path, skip_rows=int(options.get("skip_rows", 0)),
                               delimiter=str(options.get("delimiter", ",")),
                               encoding=str(options.get("encoding", "utf8")), label=label)
        absent = [v for v in mapping.values() if v not in frame.columns]
        if absent:
            raise UnreadableFile(f"{label}: mapped columns {absent} are not in the file (it has "
                                 f"{list(frame.columns)[:15]}); fix reader_options.columns in the share config")
        scale = {k: float(v) for k, v in (options.get("scale") or {}).items()}

        def col(key: str):
            if key not in mapping:
                return None
            return cn.numeric(frame, mapping[key]) * scale.get(key, 1.0)

        stamps = None
        if "timestamp" in mapping:
            stamps = cn.parse_datetime(frame[mapping["timestamp"]], tuple(options.get("date_formats", ())),
                                       options.get("timezone"))
        return cn.build(reader_label=label, time_s=col("time_s"), timestamps=stamps, current_a=col("current_a"),
                        voltage_v=col("voltage_v"), step=col("step"), cycle=col("cycle"),
                        vendor_capacity_ah=col("vendor_capacity_ah"), meta={"mapping": mapping})
