"""Athena (Demeter) project files ``.prj``: gzip-compressed Perl text, one record per data group.

Each record is ``$old_group = 'id';`` followed by ``@args = (key, value, ...)`` (label, absorber
``bkg_z``, edge ``fft_edge``, E0 ``bkg_e0``, ``is_xmu`` ...), ``@x = (...)`` (energy, eV) and
``@y = (...)`` (mu(E) for an xmu record), and ``[record]``. Every mu(E) record becomes one
``xas_spectrum`` (part = the group id); records of other kinds (chi(k), fits) are listed in meta.
"""
from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from foundation.contract import Measurement, Reader, UnreadableFile, cut_reason
from tasks.nexafs.scan import build_spectrum

SIGNATURE = b"# Athena project file"
GZIP_MAGIC = b"\x1f\x8b"
_GROUP = re.compile(r"^\$old_group\s*=\s*'([^']*)';", re.M)
_ARRAY = re.compile(r"^@(\w+)\s*=\s*\((.*?)\);", re.M | re.S)
_ARG = re.compile(r"'(\w+)',\s*('(?:[^'\\]|\\.)*'|[-+.\deE]+|\[[^\]]*\])")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def project_text(head_or_file: bytes) -> bytes:
    """Plain text of a project (gzip or not); a truncated gzip stream gives what it holds."""
    if not head_or_file.startswith(GZIP_MAGIC):
        return head_or_file
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head_or_file)
    except zlib.error:
        return b""


def _records(text: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(group id, args, arrays as text) per record."""
    starts = [(m.start(), m.group(1)) for m in _GROUP.finditer(text)]
    out = []
    for (pos, group), (end, _) in zip(starts, starts[1:] + [(len(text), "")]):
        chunk = text[pos:end]
        arrays = {name: body for name, body in _ARRAY.findall(chunk)}
        args = {k: v.strip("'") for k, v in _ARG.findall(arrays.pop("args", ""))}
        out.append((group, args, arrays))
    return out


class AthenaProjectReader(Reader):
    name = "nexafs-athena-prj"
    version = "1"
    techniques = ("nexafs",)
    suffixes = (".prj",)
    formats = "Athena/Demeter project files (.prj, gzip or plain): every mu(E) group"
    detects_on = "gzip stream (or text) starting with '# Athena project file'"
    options_doc = {"role": "sample / reference role of the spectra"}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        return project_text(head).startswith(SIGNATURE)

    def read(self, path: Path, options: Mapping[str, Any]) -> list[Measurement]:
        raw = Path(path).read_bytes()
        try:
            text = (gzip.decompress(raw) if raw.startswith(GZIP_MAGIC) else raw).decode("utf-8", errors="replace")
        except EOFError:
            raise UnreadableFile(f"{path.name}: the Athena project's gzip stream is damaged: it is truncated (it "
                                 "ends before its end marker); copy it again, or save the project again in Athena") from None
        except Exception as exc:  # zlib.error, OSError, or the accelerated gzip's own error class
            raise UnreadableFile(f"{path.name}: the Athena project's gzip stream is damaged ({type(exc).__name__}: "
                                 f"{cut_reason(exc, 100)}); save the project again in Athena or export its groups "
                                 "to XDI") from None
        records = _records(text)
        if not records:
            raise UnreadableFile(f"{path.name}: Athena project holds no data group ('$old_group' records)")
        out, skipped = [], []
        for group, args, arrays in records:
            if str(args.get("is_xmu", "0")) != "1" or "x" not in arrays or "y" not in arrays:
                skipped.append(f"{group} ({args.get('label', '').strip()}): not a mu(E) record")
                continue
            energy = np.array(_NUMBER.findall(arrays["x"]), dtype=float)
            mu = np.array(_NUMBER.findall(arrays["y"]), dtype=float)
            if energy.size != mu.size:
                raise UnreadableFile(f"{path.name}: group {group} has {energy.size} energies but {mu.size} mu "
                                     f"values; the project is damaged")
            edge = f"{args['bkg_z']} {args['fft_edge']}" if args.get("bkg_z") and args.get("fft_edge") else None
            meta = {"layout": "athena-project", "edge": edge, "sample": args.get("label", "").strip() or group,
                    "role": options.get("role"), "beamline": args.get("beamline") or None,
                    "edge_energy_ev": float(args["bkg_e0"]) if _NUMBER.fullmatch(args.get("bkg_e0", "")) else None,
                    "athena_group": group}
            m = build_spectrum(source=f"{path.name}:{group}", energy_ev=energy, mu=mu, mode=None, meta=meta)
            m.part = group
            out.append(m)
        if not out:
            raise UnreadableFile(f"{path.name}: the Athena project holds no mu(E) group ({'; '.join(skipped)})")
        for m in out:
            m.meta["skipped_groups"] = skipped
        return out
