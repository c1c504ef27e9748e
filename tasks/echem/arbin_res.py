"""Arbin .res (an MS Access database) through the mdbtools command-line tools.

Rows of Channel_Normal_Table are not stored in time order: sort by Data_Point. DateTime is an OLE
automation date (days since 1899-12-30, local time of the tester); MASS in Global_Table is in g.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv

from foundation.contract import Measurement, Reader, UnreadableFile, cut_reason
from tasks.echem import canonical as cn
from tasks.echem.vendor import require, timezone_of

JET_MAGIC = (b"Standard Jet DB", b"Standard ACE DB")
OLE_EPOCH = "1899-12-30"  # a pd.Timestamp at use: importing the reader imports no pandas
COLUMNS = ["Data_Point", "Test_Time", "DateTime", "Step_Index", "Cycle_Index", "Current", "Voltage",
           "Charge_Capacity", "Discharge_Capacity"]


def mdb_export(path: Path, table: str, label: str) -> bytes:
    exe = shutil.which("mdb-export")
    if exe is None:
        raise UnreadableFile(f"{label}: reading Arbin .res needs mdbtools (`apt-get install -y mdbtools`), "
                             "which is not installed on this worker")
    proc = subprocess.run([exe, str(path), table], capture_output=True)
    check_stderr(proc.stderr, label)
    if proc.returncode != 0:
        msg = cut_reason(proc.stderr.decode(errors="replace"), 120)
        raise UnreadableFile(f"{label}: mdb-export cannot read table {table} ({msg}); the .res file may be "
                             "damaged or still open in MITS Pro — copy it again after the test ends")
    return proc.stdout


def ole_to_utc(days: np.ndarray, tz: str | None) -> pd.Series:
    stamps = pd.Series(pd.Timestamp(OLE_EPOCH) + pd.to_timedelta(np.asarray(days, dtype="float64") * 86400.0, unit="s"))
    # a double of ~4.5e4 days resolves ~1 us; round to the millisecond the tester actually logs
    return cn.localize_utc(stamps.dt.round("ms"), tz)


class ArbinResReader(Reader):
    name = "arbin-res"
    version = "2"
    techniques = ("echem",)
    suffixes = (".res",)
    formats = "Arbin MITS Pro .res result database (MS Access/Jet), Channel_Normal_Table and Global_Table"
    detects_on = "'Standard Jet DB' / 'Standard ACE DB' at byte 4"
    options_doc = {"timezone": "IANA zone of the tester's clock (OLE DateTime is local); default UTC, recorded in meta"}
    extra = ""  # needs the mdbtools command-line tools on the worker (apt), not a pip extra

    def sniff(self, head: bytes, name: str) -> bool:
        return len(head) > 20 and head[4:19] in JET_MAGIC

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Arbin .res {path.name}"
        check_pages(path, label)
        tables = mdb_export_tables(path, label)
        if "Channel_Normal_Table" not in tables:
            raise UnreadableFile(f"{label}: an Access database without Channel_Normal_Table (tables: "
                                 f"{sorted(tables)[:8]}); it is not an Arbin result file")
        raw = mdb_export(path, "Channel_Normal_Table", label)
        header = [c.strip('"') for c in raw[:raw.find(b"\n")].decode(errors="replace").strip().split(",")]
        require({c: (c if c in header else None) for c in COLUMNS}, header, f"{label} Channel_Normal_Table")
        try:
            table = pacsv.read_csv(io.BytesIO(raw), convert_options=pacsv.ConvertOptions(include_columns=COLUMNS))
        except Exception as exc:
            raise UnreadableFile(f"{label}: Channel_Normal_Table cannot be parsed ({exc}); the database may be "
                                 "damaged — copy it again after the test ends") from None
        frame = table.to_pandas().sort_values("Data_Point", kind="stable").reset_index(drop=True)
        tz, meta = timezone_of(options)
        meta.update(global_info(path, label))
        charge = frame["Charge_Capacity"].to_numpy("float64")
        discharge = frame["Discharge_Capacity"].to_numpy("float64")
        return cn.build(
            reader_label=label,
            time_s=frame["Test_Time"].to_numpy("float64"),
            timestamps=ole_to_utc(frame["DateTime"].to_numpy(), tz),
            current_a=frame["Current"].to_numpy("float64"),
            voltage_v=frame["Voltage"].to_numpy("float64"),
            step=frame["Step_Index"].to_numpy(),
            cycle=frame["Cycle_Index"].to_numpy(),
            # Arbin's counters accumulate charge and discharge separately; their difference is net charge
            vendor_capacity_ah=charge - discharge,
            meta=meta,
        )


def check_stderr(stderr: bytes, label: str) -> None:
    """mdbtools exits 0 on a database cut short, exporting the rows it still finds and only warning that
    a page lies beyond the end of the file: that is a truncated file, not a shorter test."""
    if b"beyond EOF" in stderr or b"reading page" in stderr:
        raise UnreadableFile(f"{label} is truncated: the database refers to pages beyond the end of the file; "
                             "copy it again after the test ends")


def check_pages(path: Path, label: str) -> None:
    """An Access database is whole pages (2 KiB for Jet 3, 4 KiB for Jet 4 and later); anything else is a
    file cut short, which mdbtools would misread or refuse with its own page-level messages."""
    with open(path, "rb") as fh:
        head = fh.read(0x15)
    page = 2048 if head[0x14:0x15] == b"\x00" else 4096
    size = path.stat().st_size
    if size < page or size % page:
        raise UnreadableFile(f"{label} is truncated: {size} bytes is not a whole number of {page}-byte database "
                             "pages; copy it again after the test ends")


def mdb_export_tables(path: Path, label: str) -> set[str]:
    exe = shutil.which("mdb-tables")
    if exe is None:
        raise UnreadableFile(f"{label}: reading Arbin .res needs mdbtools (`apt-get install -y mdbtools`), "
                             "which is not installed on this worker")
    proc = subprocess.run([exe, "-1", str(path)], capture_output=True)
    check_stderr(proc.stderr, label)
    if proc.returncode != 0:
        raise UnreadableFile(f"{label}: mdb-tables cannot open it ({cut_reason(proc.stderr.decode(errors='replace'), 120)}); "
                             "the database is damaged or truncated")
    return {t.strip() for t in proc.stdout.decode(errors="replace").splitlines() if t.strip()}


def global_info(path: Path, label: str) -> dict[str, Any]:
    """Test name, start, schedule and (when present) active mass and specific capacity."""
    g = pd.read_csv(io.BytesIO(mdb_export(path, "Global_Table", label)))
    if g.empty:
        return {}
    row = g.iloc[0]
    meta: dict[str, Any] = {"test_name": str(row.get("Test_Name", "")),
                            "schedule": str(row.get("Schedule_File_Name", "")),
                            "channel": int(row["Channel_Index"]) if "Channel_Index" in g else None}
    if "MASS" in g and pd.notna(row["MASS"]) and float(row["MASS"]) > 0:
        meta["active_mass_mg"] = float(row["MASS"]) * 1000.0
    if "Specific_Capacity" in g and pd.notna(row["Specific_Capacity"]) and float(row["Specific_Capacity"]) > 0:
        meta["nominal_capacity_mah_g"] = float(row["Specific_Capacity"]) * 1000.0
    return meta
