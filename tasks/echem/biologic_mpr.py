"""BioLogic binary .mpr through galvani (GPL-3): an optional extra, imported only when a file is read."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from tasks.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem.biologic_text import biologic_columns
from tasks.echem.tabular import Columns

MAGIC = b"BIO-LOGIC MODULAR FILE"


def load_galvani():
    try:
        from galvani import BioLogic
    except ImportError:
        raise UnreadableFile("BioLogic .mpr needs the optional GPL reader galvani: "
                             "`pip install socscope[gpl]`, or export the file as .mpt text from EC-Lab") from None
    return BioLogic


class BiologicMprReader(Reader):
    name = "biologic-mpr"
    version = "1"
    techniques = ("echem",)
    suffixes = (".mpr",)

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(MAGIC)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        label = f"BioLogic .mpr {path.name}"
        biologic = load_galvani()
        try:
            mpr = biologic.MPRfile(str(path))
        except Exception as exc:  # galvani raises bare ValueError/NotImplementedError on odd modules
            raise UnreadableFile(f"{label}: galvani cannot parse it ({type(exc).__name__}: {exc}); "
                                 "export it as .mpt text from EC-Lab and ingest that") from None
        frame = Columns(mpr.data)
        arrays = biologic_columns(frame, label)
        t = arrays.pop("time_s")
        if t is None:
            raise UnreadableFile(f"{label}: no time/s column; cannot build a time axis")
        stamp = getattr(mpr, "timestamp", None)
        start = cn.start_time(stamp, options.get("timezone")) if stamp is not None else None
        meta = {"columns": list(frame.columns), **arrays.pop("meta")}
        return cn.build(reader_label=label, time_s=t, start=start, meta=meta, **arrays)
