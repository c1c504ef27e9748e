"""Toyo TOSCAT channel folders: numbered step files (``000001``, ``000002``, ...) plus CAPACITY.LOG.

Each step file has a few header lines and then the column row
``Date,Time,PassTime[Sec],Voltage[V],Current[mA],...,Condition,Mode,Cycle,TotlCycle`` (Condition 0 rest,
1 charge, 2 discharge; current is logged as a magnitude). The intake packs a channel folder into a
deterministic zip (entries named relative to the folder); this reader accepts that zip or the folder.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.vendor import timezone_of

STEP_NAME = re.compile(r"^\d{6}$")
COLUMN_MARK = "PassTime[Sec]"
ENCODING = "cp932"  # TOSCAT writes Shift-JIS headers on Japanese Windows


def _entries_from_zip(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as zf:
            return {Path(n).name: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"Toyo folder archive {path.name}: damaged zip ({exc}); re-run the intake") from None


def _entries_from_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def looks_like_toscat(names: list[str]) -> bool:
    """Numbered step files are the signature; TOSCAT also leaves logs and settings files beside them."""
    return any(STEP_NAME.match(Path(n).name) for n in names)


def zip_entry_names(head: bytes) -> list[str]:
    """Names in the local file headers found in the first bytes of a zip (no central directory needed)."""
    names, at = [], head.find(b"PK\x03\x04")
    while 0 <= at and at + 30 <= len(head):
        n, extra = int.from_bytes(head[at + 26:at + 28], "little"), int.from_bytes(head[at + 28:at + 30], "little")
        names.append(head[at + 30:at + 30 + n].decode("latin-1"))
        at = head.find(b"PK\x03\x04", at + 30 + n + extra)
    return names


class ToyoReader(Reader):
    name = "toyo-toscat"
    version = "2"
    techniques = ("echem",)
    suffixes = (".zip",)
    formats = "Toyo TOSCAT channel folder (numbered step files 000001… and CAPACITY.LOG), as a folder or zip"
    detects_on = "a zip whose entries include six-digit step files or CAPACITY.LOG"
    options_doc = {"timezone": "IANA zone of the tester's clock (naive Date/Time); default UTC, recorded in meta"}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        if not head.startswith(b"PK\x03\x04"):
            return False
        names = [Path(n).name for n in zip_entry_names(head)]
        return any(STEP_NAME.match(n) or n.upper() == "CAPACITY.LOG" for n in names)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Toyo TOSCAT folder {path.name}"
        entries = _entries_from_dir(path) if path.is_dir() else _entries_from_zip(path)
        if not looks_like_toscat(list(entries)):
            raise UnreadableFile(f"{label}: entries {sorted(entries)[:6]} do not look like a TOSCAT channel "
                                 "folder (numbered step files 000001... and CAPACITY.LOG)")
        steps = sorted(n for n in entries if STEP_NAME.match(n))
        log_steps = capacity_log_steps(entries.get("CAPACITY.LOG"))
        if log_steps is not None and log_steps > len(steps):
            raise UnreadableFile(f"{label}: CAPACITY.LOG lists {log_steps} steps but only {len(steps)} step "
                                 "files are present; the folder was copied while incomplete — copy it again")
        frames = [parse_step(entries[n], int(n), f"{label}/{n}") for n in steps]
        frame = pd.concat(frames, ignore_index=True)
        tz, tz_meta = timezone_of(options)
        wall = pd.to_datetime(frame["Date"].astype(str) + " " + frame["Time"].astype(str),
                              format="%Y/%m/%d %H:%M:%S", errors="coerce")
        if wall.isna().all():
            raise UnreadableFile(f"{label}: Date/Time columns are not in the TOSCAT form 2026/05/04 08:00:00")
        wall = cn.localize_utc(wall, tz)
        # step start = wall clock of its first row minus its PassTime; PassTime gives sub-second spacing
        pass_s = frame["PassTime[Sec]"].to_numpy("float64")
        starts = wall.groupby(frame["step"]).transform("first") - pd.to_timedelta(
            frame.groupby("step")["PassTime[Sec]"].transform("first"), unit="s")
        t0 = starts.iloc[0]
        time_s = (starts - t0).dt.total_seconds().to_numpy() + pass_s
        cond = frame["Condition"].to_numpy("int64")
        current = np.abs(frame["Current[mA]"].to_numpy("float64")) / 1000.0
        current = np.where(cond == 2, -current, np.where(cond == 1, current, 0.0))
        cycle_col = next((c for c in ("TotlCycle", "Cycle") if c in frame), None)
        meta = {"step_files": len(steps), "capacity_log_steps": log_steps, **tz_meta}
        return cn.build(reader_label=label, time_s=time_s, start=t0, current_a=current,
                        voltage_v=frame["Voltage[V]"].to_numpy("float64"), step=frame["step"].to_numpy(),
                        cycle=None if cycle_col is None else frame[cycle_col].to_numpy(), meta=meta)


def parse_step(raw: bytes, number: int, label: str) -> pd.DataFrame:
    text = raw.decode(ENCODING, errors="replace")
    at = text.find(COLUMN_MARK)
    if at < 0:
        raise UnreadableFile(f"{label}: no column row with {COLUMN_MARK}; not a TOSCAT step file")
    start = text.rfind("\n", 0, at) + 1
    body = text[start:].encode("utf-8")
    try:
        table = pacsv.read_csv(io.BytesIO(body), parse_options=pacsv.ParseOptions(ignore_empty_lines=True),
                               convert_options=pacsv.ConvertOptions(strings_can_be_null=True,
                                                                    column_types={"Date": pa.string(), "Time": pa.string()}))
    except pa.ArrowInvalid as exc:
        raise UnreadableFile(f"{label}: cannot parse the records ({exc}); the step file is damaged") from None
    frame = table.to_pandas()
    frame.columns = [c.strip() for c in frame.columns]
    missing = {"Date", "Time", COLUMN_MARK, "Voltage[V]", "Current[mA]", "Condition"} - set(frame.columns)
    if missing:
        raise UnreadableFile(f"{label}: missing TOSCAT columns {sorted(missing)}")
    frame["step"] = number
    return frame


def capacity_log_steps(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    lines = [ln for ln in raw.decode(ENCODING, errors="replace").splitlines() if ln.strip()]
    head = next((i for i, ln in enumerate(lines) if "Condition" in ln), None)
    return None if head is None else len(lines) - head - 1
