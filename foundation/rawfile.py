"""Raw files made fit for any reader: damage that is not format specific, handled once for all of them.

An empty file is refused; UTF-16 text is read as UTF-8; a text file cut inside its last row is read
without that row and flagged; a file from the content-addressed raw store is shown to its reader under
its original name (some libraries decide by the name).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from foundation.contract import UnreadableFile, cut_reason

#: bytes a reader's sniff sees, and the head read to tell text from binary
SNIFF_BYTES = 65536

#: how far back from the end a cut last line is looked for
TAIL_BYTES = 65536


@contextmanager
def readable_text(path: Path, original_name: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """``path`` made fit for the readers, with meta flags saying what was done; refusals for empty files.

    Every reader gets the same treatment of damage that is not format specific: an empty file is
    refused; UTF-16 text (with its byte-order mark, as Windows tools write it) is read as UTF-8; a text
    file that ends inside a line (a copy or a write cut short) is read without that incomplete row and
    flagged ``truncated``. Files that need nothing are passed through untouched.
    """
    if path.is_dir():
        yield path, {}
        return
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile(f"{original_name!r} is empty (0 bytes): nothing was written to it, or it was copied "
                             "before it was; copy it again from the instrument")
    flags: dict[str, str] = {}
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
        fh.seek(max(0, size - TAIL_BYTES))
        tail = fh.read()
    text = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    if not text and (b"\0" in head or b"\0" in tail):
        yield path, flags  # binary: the reader checks its own structure
        return
    cut = 0 if text else _cut_last_line(tail)
    if not text and not cut:  # the usual file: nothing to change, no temporary copy
        if not tail.endswith((b"\n", b"\r")):
            flags["unterminated"] = "yes"  # only a hint for a refusal, never a meta flag
        yield path, flags
        return
    with tempfile.TemporaryDirectory(prefix="socscope-text-") as folder:
        if text:
            path, tail = _utf8_copy(path, Path(folder) / "utf8", original_name), None
            flags["transcoded"] = "UTF-16 text (byte-order mark), read as UTF-8"
        tail = tail if tail is not None else _tail(path)
        cut = _cut_last_line(tail)
        if not tail.endswith((b"\n", b"\r")):
            flags["unterminated"] = "yes"  # only a hint for a refusal, never a meta flag
        if cut:
            if not text:
                shutil.copyfile(path, Path(folder) / "cut")
                path = Path(folder) / "cut"
            os.truncate(path, path.stat().st_size - cut)
            flags["truncated"] = (f"the file ends inside a line: its last {cut} bytes (an incomplete row) were "
                                  "left out; it was cut short while being written or copied")
        yield path, flags


def _tail(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - TAIL_BYTES))
        return fh.read()


def _utf8_copy(path: Path, target: Path, original_name: str) -> Path:
    try:
        target.write_text(path.read_bytes().decode("utf-16"), encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{original_name!r} starts with a UTF-16 byte-order mark but is not valid UTF-16 text "
                             f"({cut_reason(exc.reason, 60)} at byte {exc.start}): the file is damaged or "
                             "truncated; export it again") from None
    return target


def _fields(line: bytes) -> list[bytes]:
    return re.split(rb"[\t,;]| +", line.strip(b" \r"))


def _cut_last_line(tail: bytes) -> int:
    """Length of the last line when it looks cut short, else 0.

    Only the rows of a table are judged (the ten lines before have one number of fields, at least
    two). A last line without a line end is cut when it has fewer fields than the line before it, or when
    its last field is shorter than the last field of each of the ten lines before it (a number cut
    in the middle), or has fewer decimals than a column printed with fixed precision. A file that ends without a line end but with a whole row keeps that row.
    """
    if not tail or tail.endswith((b"\n", b"\r")):
        return 0
    lines = tail.splitlines()
    before = [_fields(line) for line in lines[-11:-1] if line.strip()]
    if len(lines) < 2 or not before or len({len(f) for f in before}) > 1 or len(before[-1]) < 2:
        return 0  # not rows of a table (a header, prose): nothing to compare the last line with
    last = _fields(lines[-1])
    if len(last) < len(before[-1]) or len(last[-1]) < min(len(f[-1]) for f in before):
        return len(lines[-1])
    decimals = {len(f[-1].partition(b".")[2]) for f in before}
    if len(decimals) == 1 and len(last[-1].partition(b".")[2]) < decimals.pop():  # fixed precision, cut short
        return len(lines[-1])
    return 0


@contextmanager
def under_original_name(path: Path, original_name: str) -> Iterator[Path]:
    """``path`` as a file that carries the original name, for the reader.

    The raw store names files by content hash, but some libraries decide by the name (fastnda
    refuses a .ndax without its suffix; pySPM and galvani look at it too), so a file that reads from
    its share must read the same from the store. A symlink in a private temporary folder does that
    without copying; folders and files that already carry the name are passed through.
    """
    safe = Path(original_name.replace("\\", "/")).name.replace("\n", "_").replace("\r", "_").lstrip(".")
    if not safe or path.name == safe or path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="socscope-read-") as folder:
        named = Path(folder) / safe
        try:
            named.symlink_to(path.resolve())
        except OSError:  # file systems without symlinks
            shutil.copyfile(path, named)
        yield named
