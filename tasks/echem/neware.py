"""Neware BTS binary .nda and zipped .ndax through fastnda (BSD-3).

Neware's Unix-time column can jump backwards (clock resyncs); the tester's own cumulative
``total_time_s`` is monotonic, so it is the time axis and the wall clock only flags the jumps.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn

NDA_MAGIC = b"NEWARE"
NDAX_ENTRIES = (b"data.ndc", b"TestInfo.xml", b"Step.xml")


def looks_like_ndax(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and any(e in head for e in NDAX_ENTRIES)


#: .nda versions whose records (of this many bytes) run from the first record marker to the end of the file
NDA_RECORDS_TO_EOF = {26: (b"\x55\x00\x01\x00\x00\x00", 86), 29: (b"\x55\x00\x01\x00\x00\x00", 86)}


def check_nda_length(path: Path, label: str) -> None:
    """A .nda whose records run to the end of the file ends on a whole record; fastnda silently drops a
    partial last record, so a file cut short would read as a shorter test."""
    raw = path.read_bytes()
    if not raw.startswith(NDA_MAGIC) or len(raw) < 15 or raw[14] not in NDA_RECORDS_TO_EOF:
        return
    marker, size = NDA_RECORDS_TO_EOF[raw[14]]
    start = raw.find(marker)
    if start >= 0 and (len(raw) - start) % size:
        raise UnreadableFile(f"{label} is truncated: its last record has {(len(raw) - start) % size} of {size} bytes; "
                             "copy the file again from BTSDA after the test has stopped")


@contextmanager
def _with_suffix(path: Path) -> Iterator[Path]:
    """``path`` under the suffix its content calls for: fastnda refuses a file by its name alone."""
    with open(path, "rb") as fh:
        wanted = ".ndax" if fh.read(4) == b"PK\x03\x04" else ".nda"
    if path.suffix.lower() == wanted:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="socscope-neware-") as folder:
        named = Path(folder) / f"data{wanted}"
        named.symlink_to(path.resolve())
        yield named


class NewareReader(Reader):
    name = "neware-nda"
    version = "2"
    techniques = ("echem",)
    suffixes = (".nda", ".ndax")
    formats = "Neware BTS binary .nda and zipped .ndax (through fastnda)"
    detects_on = "starts with 'NEWARE', or a zip whose first entries are data.ndc / TestInfo.xml / Step.xml"
    options_doc = {}
    extra = ""  # fastnda is a core dependency

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(NDA_MAGIC) or looks_like_ndax(head)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"Neware {path.name}"
        import fastnda

        check_nda_length(path, label)
        try:
            # fastnda prints its clock-jump notice on stdout; we detect and flag the jumps ourselves
            with redirect_stdout(io.StringIO()), _with_suffix(path) as named:
                table = fastnda.read(str(named))
        except (zipfile.BadZipFile, EOFError) as exc:
            raise UnreadableFile(f"{label}: truncated or damaged archive ({exc}); copy the file again "
                                 "from BTSDA after the test has stopped") from None
        except Exception as exc:
            raise UnreadableFile(f"{label}: fastnda cannot parse it ({type(exc).__name__}: {exc}); export "
                                 "the test as CSV from BTSDA and ingest that") from None
        need = ["voltage_V", "current_mA", "unix_time_s", "total_time_s", "cycle_count", "step_count", "capacity_mAh"]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise UnreadableFile(f"{label}: fastnda returned no {missing}; unsupported BTS version")
        # polars hands out its numeric buffers without a copy; every array below is made once
        cols = {c: table[c].to_numpy() for c in need}
        # unique categories first, then their names: casting 10^5..10^6 rows to text costs far more
        step_types = (sorted(set(table["step_type"].unique().cast(str).to_list()))
                      if "step_type" in table.columns else None)
        # capacity_mAh restarts each step and is signed by direction; accumulate it into a net counter
        cap = cols["capacity_mAh"].astype("float64")
        cap /= 1000.0
        step_no = cols["step_count"].astype("int64")
        ends = np.r_[np.flatnonzero(step_no[1:] != step_no[:-1]), len(step_no) - 1]
        carried = np.cumsum(np.r_[0.0, cap[ends[:-1]]])
        vendor = np.repeat(carried, np.diff(np.r_[-1, ends]))
        vendor += cap
        current = cols["current_mA"].astype("float64")
        current /= 1000.0
        # the wall clock is Unix time: absolute, no zone to assume
        meta: dict[str, Any] = {"timezone": "UTC", "timezone_source": "file: unix_time_s"}
        if step_types is not None:
            meta["step_types"] = step_types
        return cn.build(reader_label=label, time_s=cols["total_time_s"], wall_clock_s=cols["unix_time_s"],
                        current_a=current, voltage_v=cols["voltage_V"].astype("float64"), step=step_no,
                        cycle=cols["cycle_count"].astype("int64"), vendor_capacity_ah=vendor, meta=meta)
