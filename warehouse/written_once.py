"""The warehouse's object store as DuckDB reads it: what a data file is, asked once per process.

DuckDB asks a registered filesystem four things of every file a view names, at every query that
binds the view: ``glob`` (→ exists → info), ``open`` (→ info for the size), ``size`` and
``modified``. On an object store each is a HEAD request; over a view of every data file of a
campaign that was ~95 % of a processing run's requests to the store (7,139 HEADs for 358 data
files on the small demo), served by the store on the cores the file workers need.

A data file is written once under a name of its own (``data/<table>/.../<unit>-<uuid>.parquet``)
and never changed, so its details cannot go stale: they are kept after the first answer (a bounded
number of them), and so are the bytes of small files (read whole in one request, then from memory).
A small file is read at its first read, not when it is opened: DuckDB opens every file of a view at
every query and then reads from its own cache of what it read before (the external file cache), so
an eager read at the open sent the store one request per file per query. Once the files of a table
outgrew the bytes kept here, every query read them all again, least recently used out first (the full
demo's AFM pairing: 3,609 GETs of 3 GiB for 103 pixel files).
A file that does not exist is asked again every time (it is never remembered), and so is any path
outside the warehouse's ``data/`` folder (``under``). The manifest records each file's size as it is
committed: a process binding a view to a version gives the details of its files (``remember``), and
the store is asked nothing about them at all (a file the manifest names but the store lost fails when
it is read, with the store's error).
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from fsspec import AbstractFileSystem

#: details kept per process (~300 bytes each): more files than a view of the full demo names
MAX_DETAILS = 200_000
#: a file up to this size is kept whole after its first read (the small tables' files: a view's query
#: opens each of them again, a GET or two for its footer each time); larger ones are read in ranges
MAX_KEPT_FILE = 2 * 2**20
#: bytes of whole files kept per process (a process of the platform stays <= 1 GiB)
MAX_KEPT_BYTES = 64 * 2**20
#: the time given to a file whose details the manifest gave (``remember``): any fixed time will do
WRITTEN = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: the details kept of a file (an object store's info holds more: ETag, storage class...)
KEPT = ("name", "size", "type", "ETag", "LastModified", "mtime", "created", "updated")


class WrittenOnce(AbstractFileSystem):
    """``inner`` (an fsspec filesystem) for reading files that never change once written: each file's
    details are fetched once. Writing goes to ``inner`` unchanged (and forgets nothing: a file written
    here was never asked about before, its name being new)."""

    cachable = False  # one per Warehouse, never shared through fsspec's instance cache

    def __init__(self, inner: AbstractFileSystem, under: str = "", max_details: int = MAX_DETAILS,
                 max_file: int = MAX_KEPT_FILE, max_bytes: int = MAX_KEPT_BYTES):
        super().__init__()
        self.inner = inner
        #: only files under this folder are written once (the warehouse's ``data/``); any other path
        #: (a user's SQL reading some other object of the bucket) is asked every time, as before
        self.under = inner._strip_protocol(under).rstrip("/") + "/" if under else ""
        self.protocol = inner.protocol
        self.max_details, self.max_file, self.max_bytes = max_details, max_file, max_bytes
        self._details: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._bytes: OrderedDict[str, bytes] = OrderedDict()
        self._kept = 0
        self._lock = threading.Lock()
        #: details and whole files fetched from ``inner`` (requests the store answered)
        self.fetched = self.files_read = 0

    def _strip_protocol(self, path: str) -> str:  # type: ignore[override] # the inner store's rule
        return self.inner._strip_protocol(path)

    def _once(self, path: str) -> bool:
        return path.startswith(self.under)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if not self._once(path):
            return self.inner.info(path, **kwargs)
        with self._lock:
            known = self._details.get(path)
        if known is not None:
            return dict(known)
        details = self.inner.info(path, **kwargs)  # FileNotFoundError: not remembered
        with self._lock:
            self.fetched += 1
        if details.get("type") == "file":
            with self._lock:
                self._keep(path, {k: details[k] for k in KEPT if k in details})
        return details

    def remember(self, files: Iterable[tuple[str, int]]) -> None:
        """Details of files whose size the caller knows (the manifest records it as it commits them): the
        store is not asked. Their time is ``WRITTEN``: a file written once has one version, and DuckDB
        uses the time only to tell versions of a file apart."""
        with self._lock:
            for path, size in files:
                path = self._strip_protocol(path)
                if self._once(path) and path not in self._details:
                    self._keep(path, {"name": path, "size": size, "type": "file", "LastModified": WRITTEN})

    def _keep(self, path: str, details: dict[str, Any]) -> None:
        """Keep a file's details, the oldest kept left out beyond ``max_details`` (under the lock)."""
        self._details[path] = details
        while len(self._details) > self.max_details:
            self._details.popitem(last=False)

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def glob(self, path: str, maxdepth: int | None = None, **kwargs: Any):
        """A plain path (every path a view names) is itself when it exists; a pattern is the store's."""
        if any(ch in path for ch in "*?["):  # a pattern (fsspec's own test of one)
            return self.inner.glob(path, maxdepth=maxdepth, **kwargs)
        if not self.exists(path):
            return {} if kwargs.get("detail") else []
        return {path: self.info(path)} if kwargs.get("detail") else [path]

    def modified(self, path: str):
        """A data file's one version has one time: the store's (s3fs) or ``WRITTEN``. DuckDB keeps what it
        read of a remote file only while this answer stays the same (some stores' ``modified`` does not)."""
        details = self.info(path)
        if "LastModified" in details:  # s3fs
            return details["LastModified"]
        return WRITTEN if self._once(self._strip_protocol(path)) else self.inner.modified(path)

    def ls(self, path: str, detail: bool = True, **kwargs: Any):
        return self.inner.ls(path, detail=detail, **kwargs)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any):
        if "r" not in mode or not self._once(self._strip_protocol(path)):
            return self.inner._open(path, mode, **kwargs)
        details = self.info(path)
        if details["size"] <= self.max_file and "size" not in kwargs:  # ("size": reading it whole now)
            return _ReadWholeWhenRead(lambda: self._whole(self._strip_protocol(path), details), details["size"])
        if "size" not in kwargs and _takes_size(self.inner):
            kwargs["size"] = details["size"]  # s3fs would ask the store for it again
        handle = self.inner._open(path, mode, **kwargs)
        if getattr(handle, "_details", False) is None:  # a buffered file asks for them at its first read
            handle._details = details
        return handle

    def _whole(self, path: str, details: dict[str, Any]) -> bytes:
        """A small file's bytes: from memory, or read whole (one request) and kept (least recently used out)."""
        with self._lock:
            data = self._bytes.get(path)
            if data is not None:
                self._bytes.move_to_end(path)
                return data
        with self._open(path, "rb", size=details["size"]) as fh:
            data = fh.read()
        with self._lock:
            self.files_read += 1
            if path not in self._bytes:
                self._bytes[path] = data
                self._kept += len(data)
            while self._kept > self.max_bytes and self._bytes:
                self._kept -= len(self._bytes.popitem(last=False)[1])
        return data


class _ReadWholeWhenRead(io.RawIOBase):
    """A small file opened for reading: its bytes (``load``) are fetched at the first read, so that an
    open that is never read (DuckDB reading from its own cache) costs no request."""

    def __init__(self, load: Callable[[], bytes], size: int):
        super().__init__()
        self._load, self.size, self._pos, self._data = load, size, 0, None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        data = self._bytes()
        end = len(data) if size is None or size < 0 else self._pos + size
        chunk, self._pos = data[self._pos:end], min(max(end, self._pos), len(data))
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)

    readall = read

    def _bytes(self) -> bytes:
        if self._data is None:
            self._data = self._load()
        return self._data


def _takes_size(fs: AbstractFileSystem) -> bool:
    """Whether ``fs._open`` accepts the file's size (s3fs does: it then sends no HEAD of its own)."""
    import inspect

    try:
        return "size" in inspect.signature(fs._open).parameters
    except (TypeError, ValueError):
        return False
