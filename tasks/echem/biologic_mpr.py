"""BioLogic binary .mpr through galvani, with yadg's extractor as the fallback (both GPL-3: the optional
``gpl`` extra, imported only when a file is read).

galvani is fast (one numpy view of the data module) but refuses any column ID it does not know; yadg's
EC-Lab extractor knows more of them (Energy we/ce, step time, <Ece>, THD...) but converts row by row, so
it reads only what galvani refuses. ``meta["backend"]`` says which library read the file.

File layout (galvani and yadg docs): the magic ``BIO-LOGIC MODULAR FILE`` padded to 52 bytes, then
modules, each ``MODULE`` + a header (short name 10 bytes, long name 25, [max length u4 when EC-Lab >=
11.50], length u4, version u4, ...) + ``length`` bytes of data. The ``VMP LOG`` module holds the
acquisition start (an OLE date: days since 1899-12-30, local time of the instrument PC).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache, partial
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.biologic_text import biologic_columns
from tasks.echem.biologic_units import reconciled_charge, start_offset, time_zone
from tasks.echem.tabular import Columns

MAGIC = b"BIO-LOGIC MODULAR FILE"
FILE_MAGIC = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00\x00\x00\x00"
HEADER_V1 = np.dtype([("short", "S10"), ("long", "S25"), ("length", "<u4"), ("version", "<u4"), ("date", "S8")])
HEADER_V2 = np.dtype([("short", "S10"), ("long", "S25"), ("max_length", "<u4"), ("length", "<u4"),
                      ("version", "<u4"), ("newver", "<u4"), ("date", "S8")])
OLE_EPOCH = datetime(1899, 12, 30)
INSTALL = "`pip install socscope[gpl]` (galvani and yadg), or export the file as .mpt text from EC-Lab"


def mpr_modules(data: bytes, label: str) -> list[dict[str, Any]]:
    """Name, data offset and length of each module, walked per the documented layout; UnreadableFile
    naming the defect where the walk breaks (truncated copy, overwritten bytes)."""
    if not data.startswith(FILE_MAGIC):
        raise UnreadableFile(f"{label}: the first 52 bytes are not the BioLogic modular-file magic; "
                             "the file is damaged")
    pos, out = len(FILE_MAGIC), []
    while pos < len(data):
        if data[pos:pos + 6] != b"MODULE":
            raise UnreadableFile(f"{label}: expected a 'MODULE' marker at byte {pos}, found {data[pos:pos + 6]!r}; "
                                 "the file is damaged")
        pos += 6
        header = HEADER_V2 if data[pos + 35:pos + 39] == b"\xff\xff\xff\xff" else HEADER_V1
        if pos + header.itemsize > len(data):
            raise UnreadableFile(f"{label}: the file ends inside a module header at byte {len(data)}; "
                                 "the file is truncated, copy it again from the instrument PC")
        h = np.frombuffer(data, header, count=1, offset=pos)[0]
        name, start, length = h["short"].decode("latin-1").strip(), pos + header.itemsize, int(h["length"])
        if start + length > len(data):
            raise UnreadableFile(f"{label}: module {name!r} announces {length} bytes from byte {start} but the "
                                 f"file ends at byte {len(data)}; the file is truncated, copy it again from the "
                                 "instrument PC")
        out.append({"name": name, "offset": start, "length": length, "version": int(h["version"]),
                    "header": header})
        pos = start + length
    if not any(m["name"] == "VMP data" for m in out):
        raise UnreadableFile(f"{label}: no 'VMP data' module among {[m['name'] for m in out]}; "
                             "the file holds settings only (the run logged nothing)")
    return out


@lru_cache(maxsize=None)  # the metadata lookup scans site-packages: ~1 ms, a tenth of a read
def _version(dist: str) -> str:
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return dist


def read_galvani(path: Path) -> tuple[Columns, datetime | None]:
    from galvani import BioLogic

    mpr = BioLogic.MPRfile(str(path))
    return Columns(mpr.data), getattr(mpr, "timestamp", None)


class _Unknown(logging.Handler):
    """Collects yadg's 'Unknown column ID' errors: yadg then guesses a 4-byte float, which shifts every
    later column, so such a read is refused rather than trusted."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "Unknown column ID" in record.getMessage():
            self.messages.append(record.getMessage())


def read_yadg(path: Path, label: str) -> tuple[Columns, datetime | None]:
    from yadg.extractors.eclab import mpr as yadg_mpr

    catcher = _Unknown()
    log = logging.getLogger(yadg_mpr.__name__)
    log.addHandler(catcher)
    try:
        ds = yadg_mpr.extract_raw_bytes(source=path.read_bytes(), timezone="UTC").to_dataset()
    except Exception:
        if not catcher.messages:
            raise
        ds = None  # the guessed width garbled what followed: the unknown column is the defect to name
    finally:
        log.removeHandler(catcher)
    if catcher.messages or ds is None:
        raise UnreadableFile(f"{label}: neither galvani nor yadg knows all its column IDs ({catcher.messages[0]}); "
                             "export the file as .mpt text from EC-Lab and ingest that")
    columns = {}
    for var in ds.data_vars:  # back to BioLogic names ('Ewe/V', '(Q-Qo)/mA·h'): one column mapping for all
        if str(var).endswith("_std_err"):
            continue
        unit = ds[var].attrs.get("units")
        columns[f"{var}/{unit}" if unit else str(var)] = np.asarray(ds[var].values)
    ole = ds.attrs.get("original_metadata", {}).get("log", {}).get("ole_timestamp")
    stamp = OLE_EPOCH + timedelta(days=float(ole)) if ole else None
    return Columns(pa.table({k: v for k, v in columns.items() if v.dtype.kind in "fiub"})), stamp


def read_with_fallback(path: Path, label: str) -> tuple[Columns, datetime | None, dict[str, Any]]:
    """galvani first; what it refuses (or a missing galvani) goes to yadg; both missing: install hint.
    When neither reads the file, a damaged layout (truncated copy) is named rather than their messages."""
    galvani_missing = f"galvani is not installed: {INSTALL}"
    try:
        frame, stamp = read_galvani(path)
        return frame, stamp, {"backend": _version("galvani")}
    except ImportError:
        galvani_error = galvani_missing
    except Exception as exc:  # galvani raises bare ValueError/NotImplementedError/OSError/AssertionError
        galvani_error = f"galvani: {type(exc).__name__}: {exc}"
    try:
        frame, stamp = read_yadg(path, label)
    except ImportError:
        if galvani_error == galvani_missing:
            raise UnreadableFile(f"BioLogic .mpr needs the optional GPL readers: {INSTALL}") from None
        mpr_modules(path.read_bytes(), label)
        raise UnreadableFile(f"{label}: {galvani_error}; yadg, which reads more EC-Lab modules, is not "
                             f"installed: {INSTALL}") from None
    except UnreadableFile:
        raise
    except Exception as exc:
        mpr_modules(path.read_bytes(), label)
        raise UnreadableFile(f"{label}: neither reader parses it ({galvani_error}; yadg: {type(exc).__name__}: "
                             f"{exc}); export it as .mpt text from EC-Lab and ingest that") from None
    return frame, stamp, {"backend": _version("yadg"), "galvani_refused": galvani_error}


class BiologicMprReader(Reader):
    name = "biologic-mpr"
    version = "3"
    techniques = ("echem",)
    suffixes = (".mpr",)
    formats = "BioLogic EC-Lab / BT-Lab binary .mpr (any technique; modules galvani knows, else yadg's)"
    detects_on = "starts with 'BIO-LOGIC MODULAR FILE'"
    options_doc = {"timezone": "IANA zone of the instrument PC's clock (the LOG module's start time has no "
                               "zone); default UTC, recorded as a default in meta['time_zone_source']"}
    extra = "gpl"

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(MAGIC)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"BioLogic .mpr {path.name}"
        frame, stamp, meta = read_with_fallback(path, label)
        arrays = biologic_columns(frame, label)
        check = arrays.pop("charge_check")
        t = arrays.pop("time_s")
        if t is None:
            raise UnreadableFile(f"{label}: no time column; cannot build a time axis")
        tz, zone_meta = time_zone(options)
        start = cn.start_time(stamp, tz) if stamp is not None else None
        meta.update({"columns": list(frame.columns), **arrays.pop("meta")})
        if start is not None:
            start, meta["first_record_s"] = start_offset(start, t)
            meta.update(zone_meta)
        else:
            meta.setdefault("flags", []).append("no VMP LOG module: the acquisition start is unknown")
        return cn.build(reader_label=label, time_s=t, start=start, meta=meta, **arrays,
                        charge_check=None if check is None else partial(reconciled_charge, check))
