"""Intake: list a share, keep complete files, hash them, copy each distinct file once to the raw store.

Pure functions over fsspec filesystems; the intake flow only orchestrates them. A folder matched by
a share's ``bundle_patterns`` (e.g. a Toyo TOSCAT channel folder) is taken whole and packed into a
deterministic ZIP, so that it, too, is one content-addressed raw file.
"""
from __future__ import annotations

import errno
import fnmatch
import hashlib
import io
import os
import posixpath
import re
import shutil
import stat
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import fsspec
import pandas as pd
import yaml

from foundation.campaign import Campaign, Share
from foundation.registry import technique
from foundation.text import shown  # noqa: F401 - re-exported: callers use tasks.intake.shown
from warehouse.faults import fault_point

#: top-level share folders whose files belong to no sample (standards, calibration references)
REFERENCE_DIRS = ("references", "standards")
CHUNK = 1 << 20


@dataclass
class Candidate:
    share: str
    rel_path: str
    full_path: str
    size: int
    mtime: float
    is_bundle: bool = False


@dataclass
class Refusal:
    share: str
    rel_path: str
    reason: str
    #: the share's ignore pattern the file's name matches: not data, listed but never taken
    ignored_by: str | None = None


def ignored_by(share: Share, rel: str) -> str | None:
    """The ignore pattern (Share.ignore_patterns) that the file's name matches, if any."""
    name = posixpath.basename(rel)
    return next((p for p in share.ignore_patterns if fnmatch.fnmatchcase(name, p)), None)


@dataclass
class Intaken:
    """A complete file, hashed, in the raw store, mapped to its sample or cell (or refused mapping)."""

    candidate: Candidate
    sha256: str
    store_path: str
    size: int
    sample_id: str | None
    cell_id: str | None
    mapping_error: str | None = None


def _matches(rel: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if fnmatch.fnmatch(rel, p) or (p.startswith("**/") and fnmatch.fnmatch(rel, p[3:])):
            return True
    return False


def share_fs(share: Share, campaign: Campaign) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, root = fsspec.core.url_to_fs(campaign.resolve(share.url), **share.storage_options)
    return fs, root.rstrip("/")


def _text(name: str) -> str:
    """A local file name that is not valid UTF-8 (its bytes arrive as surrogates, which no table can
    hold) as text: the odd bytes written as ``\\xff``. The file itself is still opened by its real path."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


class StillWriting(Exception):
    """The file changed (size, mtime or content) between the listing and the copy: take it next run."""


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _escapes(fs: fsspec.AbstractFileSystem, root: str, full: str, rel: str) -> str | None:
    parts = rel.split("/")
    if ".." in parts or rel.startswith("/"):
        return f"path {shown(rel)!r} climbs out of the share with '..'"
    if _is_local(fs):
        real_root = os.path.realpath(root)
        real = os.path.realpath(full)
        if os.path.commonpath([real_root, real]) != real_root:
            return f"path {shown(rel)!r} is a symlink to {shown(real)}, outside the share {real_root}: refused"
    return None


def _link_problem(path: str, real_root: str, rel: str) -> tuple[str | None, os.stat_result | None]:
    """(refusal, stat of the target) of a symlink on a local share; refusal None when it may be followed."""
    try:
        st = os.stat(path)  # follows the link; ELOOP for a loop, ENOENT for a dangling link
    except OSError as exc:
        what = "a symlink loop" if exc.errno == errno.ELOOP else f"a symlink that cannot be followed ({exc.strerror})"
        return f"path {shown(rel)!r} is {what}: refused; remove or repair the link", None
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        return (f"path {shown(rel)!r} is a symlink to {shown(real)}, outside the share {real_root}: refused; copy the "
                f"file into the share if it belongs to this campaign"), None
    return None, st


def _walk_local(root: str) -> dict[str, dict]:
    """Every entry under a local share, like ``fs.find(detail=True)``, without following symlinks blindly.

    A symlink is followed only to a file inside the share (taken like any file). A symlinked folder
    is never descended (a loop cannot hang the listing; its files are listed where they really are);
    one pointing outside the share, a dangling link, a loop, and a special file (a FIFO would block
    the hash forever) come back with a ``refused`` reason for ``list_share`` to report.
    """
    real_root = os.path.realpath(root)
    out: dict[str, dict] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            if folder == root:  # the share itself: unreachable, like a share that is not mounted
                raise FileNotFoundError(f"share folder {root} cannot be listed ({exc.strerror})") from None
            out[folder] = {"type": "file", "size": 0, "mtime": 0.0,
                           "refused": f"folder {shown(folder[len(root) + 1:])!r} cannot be listed ({exc.strerror})"}
            continue
        for e in entries:
            rel = e.path[len(root) + 1:]
            if e.is_symlink():
                problem, st = _link_problem(e.path, real_root, rel)
                if st is not None and stat.S_ISDIR(st.st_mode):
                    continue  # listed at its real place inside the share
                out[e.path] = _info(st, problem, rel)
            elif e.is_dir(follow_symlinks=False):
                out[e.path] = {"type": "directory", "size": 0}
                stack.append(e.path)
            else:
                try:
                    out[e.path] = _info(e.stat(follow_symlinks=False), None, rel)
                except FileNotFoundError:  # removed since the folder was read
                    continue
    return out


def _info(st: os.stat_result | None, problem: str | None, rel: str) -> dict:
    if problem is None and st is not None and not stat.S_ISREG(st.st_mode):
        problem = f"path {shown(rel)!r} is not a regular file (a pipe, socket or device): refused"
    if problem is not None:
        return {"type": "file", "size": 0, "mtime": 0.0, "refused": problem}
    return {"type": "file", "size": st.st_size, "mtime": st.st_mtime}


def _listing(fs: fsspec.AbstractFileSystem, root: str) -> dict[str, dict]:
    return _walk_local(root) if _is_local(fs) else fs.find(root, withdirs=True, detail=True)


def size_limit_mb(share: Share) -> float:
    """The share's own limit, else its technique's."""
    return share.max_file_mb if share.max_file_mb is not None else technique(share.technique).max_file_mb


def _too_big(share: Share, rel: str, size: int) -> str | None:
    limit = size_limit_mb(share)
    if size <= limit * 1e6:
        return None
    return (f"{shown(rel)!r} is {size / 1e6:.0f} MB, over the {limit:g} MB limit for {share.technique} files on share "
            f"{share.name!r}: refused unread; if it is a real measurement, raise max_file_mb for this share in the "
            f"campaign config, otherwise move it off the share")


def list_share(share: Share, campaign: Campaign, now: float | None = None) -> tuple[list[Candidate], list[Candidate], list[Refusal]]:
    """Return (complete files, files still being written, refused paths) of one share.

    A file is complete once FILE<done_marker_suffix> exists or, without a marker, once its mtime is
    ``settle_seconds`` old; ``store_candidate`` then checks that its size and mtime are still those
    of this listing before and after hashing (a second listing), so a file that grows under an old
    mtime is left for the next run too. Refused: paths out of the share, over the size limit.
    """
    fs, root = share_fs(share, campaign)
    now = time.time() if now is None else now
    if not fs.exists(root):
        raise FileNotFoundError(f"share {share.name!r}: {campaign.resolve(share.url)} does not exist or is not "
                                f"reachable; check its url in the campaign config")
    bundles: dict[str, tuple[str, list[tuple[str, dict]]]] = {}  # rel -> (real path, members)
    files: list[tuple[str, dict]] = []
    for full, info in sorted(_listing(fs, root).items()):
        rel = _text(full[len(root) + 1:] if full.startswith(root + "/") else posixpath.relpath(full, root))
        if info.get("type") == "directory":
            if _matches(rel, share.bundle_patterns):
                bundles[rel] = (full, [])
            continue
        owner = next((b for b in bundles if rel.startswith(b + "/")), None)
        if owner is not None:
            bundles[owner][1].append((full, info))
        else:
            files.append((full, info))

    complete, pending, refused = [], [], []
    marker = share.done_marker_suffix
    names = {f for f, _ in files}

    def sort(cand: Candidate, problem: str | None) -> None:
        problem = (problem or _escapes(fs, root, cand.full_path, cand.rel_path)
                   or _too_big(share, cand.rel_path, cand.size))
        if problem:
            refused.append(Refusal(share.name, cand.rel_path, problem))
            return
        if marker:
            done = (cand.full_path + marker) in names
        else:
            done = now - cand.mtime >= share.settle_seconds
        (complete if done else pending).append(cand)

    for full, info in files:
        rel = _text(full[len(root) + 1:])
        if marker and rel.endswith(marker):
            continue
        if not _matches(rel, share.patterns) or _matches(rel, share.exclude):
            continue
        pattern = ignored_by(share, rel)
        if pattern:
            refused.append(Refusal(share.name, rel, f"ignored: the name matches {pattern!r} of the share's ignore "
                                   f"list (not instrument data)", ignored_by=pattern))
            continue
        sort(Candidate(share.name, rel, full, int(info.get("size") or 0), _mtime(info, fs, full)), info.get("refused"))
    for rel, (full, members) in sorted(bundles.items()):
        problem = next((i["refused"] for _, i in members if i.get("refused")), None)
        mtime = max((_mtime(i, fs, f) for f, i in members), default=0.0)
        sort(Candidate(share.name, rel, full, sum(int(i.get("size") or 0) for _, i in members), mtime, True),
             problem and f"bundle {shown(rel)!r}: {problem}")
    return complete, pending, refused


def _mtime(info: dict, fs: fsspec.AbstractFileSystem, path: str) -> float:
    for key in ("mtime", "LastModified", "last_modified", "updated"):
        v = info.get(key)
        if v is not None:
            return v.timestamp() if hasattr(v, "timestamp") else float(v)
    try:
        return fs.modified(path).timestamp()
    except (NotImplementedError, OSError):
        return 0.0


def _signature(fs: fsspec.AbstractFileSystem, cand: Candidate) -> tuple[int, float]:
    """(size, mtime) of a candidate now: a second listing of the one file (or bundle folder)."""
    if cand.is_bundle:
        members = [(f, i) for f, i in _listing(fs, cand.full_path).items() if i.get("type") != "directory"]
        size = sum(int(i.get("size") or 0) for _, i in members)
        return size, max((_mtime(i, fs, f) for f, i in members), default=0.0)
    info = fs.info(cand.full_path)
    return int(info.get("size") or 0), _mtime(info, fs, cand.full_path)


def _check_unchanged(fs: fsspec.AbstractFileSystem, cand: Candidate, when: str) -> None:
    size, mtime = _signature(fs, cand)
    if size != cand.size or abs(mtime - cand.mtime) > 1e-6:
        raise StillWriting(f"{shown(cand.rel_path)} changed {when} (size {cand.size} -> {size} B); it is taken on a "
                           f"later run once it is stable")


def bundle_zip(fs: fsspec.AbstractFileSystem, folder: str, out: IO[bytes]) -> None:
    """Deterministic ZIP of a folder into ``out``: sorted entries, fixed timestamps, names relative to the
    folder; members are streamed, so a large bundle never sits in memory whole."""
    folder = folder.rstrip("/")
    members = sorted((f, i) for f, i in _listing(fs, folder).items() if i.get("type") != "directory")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for full, meta in members:
            info = zipfile.ZipInfo(_text(full[len(folder) + 1:]), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.file_size = int(meta.get("size") or 0)  # as ZipFile.writestr sets it: same bytes, same sha
            with fs.open(full, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def bundle_bytes(fs: fsspec.AbstractFileSystem, folder: str) -> bytes:
    buf = io.BytesIO()
    bundle_zip(fs, folder, buf)
    return buf.getvalue()


def _blocks(fh: IO[bytes]) -> Iterator[bytes]:
    yield from iter(lambda: fh.read(CHUNK), b"")


def sha256_of_stream(fh: IO[bytes]) -> str:
    h = hashlib.sha256()
    for block in _blocks(fh):
        h.update(block)
    return h.hexdigest()


def store_candidate(cand: Candidate, share: Share, campaign: Campaign, raw_store: str,
                    storage_options: dict[str, Any] | None = None) -> tuple[str, str, int]:
    """Hash (streamed, constant memory) and copy into the content-addressed raw store once.

    Returns (sha256, store path, size). Raises ``StillWriting`` when the file's size or mtime is not
    the listing's before or after hashing, or the copy's hash is not the first hash.
    """
    fs, _ = share_fs(share, campaign)
    store_fs, store_root = fsspec.core.url_to_fs(raw_store, **(storage_options or {}))
    store_root = store_root.rstrip("/")
    _check_unchanged(fs, cand, "since it was listed")
    if cand.is_bundle:
        with tempfile.SpooledTemporaryFile(max_size=4 * CHUNK) as tmp:
            bundle_zip(fs, cand.full_path, tmp)
            _check_unchanged(fs, cand, "while it was packed")
            tmp.seek(0)
            sha = sha256_of_stream(tmp)
            dest = f"{store_root}/{sha[:2]}/{sha}"
            if not store_fs.exists(dest):
                tmp.seek(0)
                _write_readonly(store_fs, dest, _blocks(tmp))
            return sha, dest, int(store_fs.size(dest))
    with fs.open(cand.full_path, "rb") as fh:
        sha = sha256_of_stream(fh)
    _check_unchanged(fs, cand, "while it was hashed")
    if share.raw_store_mode == "reference":  # the archive is the store: keep where it is
        return sha, cand.full_path if _is_local(fs) else fs.unstrip_protocol(cand.full_path), int(cand.size)
    dest = f"{store_root}/{sha[:2]}/{sha}"
    if store_fs.exists(dest):
        return sha, dest, int(store_fs.size(dest))
    if share.raw_store_mode == "link" and _is_local(fs) and _is_local(store_fs) and _link_into_store(cand.full_path, dest):
        return sha, dest, int(store_fs.size(dest))

    def blocks():
        with fs.open(cand.full_path, "rb") as fh:
            yield from _blocks(fh)
    _write_readonly(store_fs, dest, blocks())
    if not _verify(store_fs, dest, sha):
        store_fs.rm(dest)
        raise StillWriting(f"{shown(cand.rel_path)} changed while it was copied (sha256 mismatch); it is taken "
                           f"on a later run once it is stable")
    return sha, dest, int(store_fs.size(dest))


#: Linux FICLONE ioctl: a copy-on-write clone (btrfs, XFS, bcachefs), a true copy that costs no space
_FICLONE = 0x40049409


def _link_into_store(source: str, dest: str) -> bool:
    """A reflink of ``source`` at ``dest`` where the filesystem can clone, else a hard link on the same
    device; False when neither works (the caller copies). A hard link shares the file: an edit in place
    on the share changes the stored bytes too, which `socscope verify` and the check before each read
    report (mode documented in Share.raw_store_mode)."""
    import fcntl

    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{dest}.{uuid.uuid4().hex}.tmp"
    try:
        with open(source, "rb") as src, open(tmp, "wb") as out:
            fcntl.ioctl(out.fileno(), _FICLONE, src.fileno())
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # a clone has its own inode and mode
        os.replace(tmp, dest)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
    try:
        os.link(source, tmp)  # no chmod: the mode is the share file's own
        os.replace(tmp, dest)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False


def _verify(fs: fsspec.AbstractFileSystem, path: str, sha: str) -> bool:
    with fs.open(path, "rb") as fh:
        return sha256_of_stream(fh) == sha


def _write_readonly(fs: fsspec.AbstractFileSystem, dest: str, blocks: Iterable[bytes]) -> None:
    if _is_local(fs):
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{dest}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as out:
                for b in blocks:
                    out.write(b)
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            fault_point("intake.raw_tmp_written")
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
    else:
        with fs.open(dest, "wb") as out:
            for b in blocks:
                out.write(b)


def path_key(share: str, rel: str) -> str:
    """The ingest_events key of a path that has no content hash (refused before it was read)."""
    return "path:" + hashlib.sha256(f"{share}/{rel}".encode()).hexdigest()


def sighting_changes(known: pd.DataFrame, taken: list[tuple[str, str, str, int, Any]], campaign: str,
                     stamp: datetime) -> list[dict[str, Any]]:
    """Sighting rows to upsert (keep='new') after a listing: only those that changed.

    ``known``: the sightings table; ``taken``: (share, path, sha256, size, mtime) of the files taken
    now. A path whose content changed gets a row for the new content (``superseded_at`` NULL: what
    the share holds now) and its previous current row is marked superseded; both raw files and the
    rows made from them stay (they are told apart by raw_sha256). Same content with a new mtime
    only updates size and mtime, so the file is not hashed again on every run.
    """
    rows = {(r.share, r.path, r.raw_sha256): r for r in known.itertuples()}
    current = {(r.share, r.path): r for r in known.itertuples() if pd.isna(r.superseded_at)}
    out = []
    for share, path, sha, size, mtime in taken:
        cur = current.get((share, path))
        if cur is not None and cur.raw_sha256 == sha and cur.size_bytes == size \
                and abs(pd.Timestamp(cur.mtime).timestamp() - mtime.timestamp()) < 1e-3:
            continue
        old = rows.get((share, path, sha))
        out.append({"raw_sha256": sha, "campaign": campaign, "share": share, "path": path, "size_bytes": size,
                    "mtime": mtime, "first_seen": old.first_seen if old is not None else stamp, "superseded_at": None})
        if cur is not None and cur.raw_sha256 != sha:
            out.append({"raw_sha256": cur.raw_sha256, "campaign": campaign, "share": share, "path": path,
                        "size_bytes": cur.size_bytes, "mtime": cur.mtime, "first_seen": cur.first_seen,
                        "superseded_at": stamp})
    return out


def sample_in_path(share: Share, rel: str) -> str | None:
    """The sample a path names through the share's path_pattern (no sidecar read), if any."""
    match = re.search(share.mapping.path_pattern, rel) if share.mapping.path_pattern else None
    return (match.groupdict().get("sample") or None) if match else None


def map_sample(cand: Candidate, share: Share, campaign: Campaign) -> tuple[str | None, str | None, str | None]:
    """(sample_id, cell_id, error). References/standards map to no sample and no error."""
    top = cand.rel_path.split("/", 1)[0]
    if top in REFERENCE_DIRS:
        return None, None, None
    ident: dict[str, str] = {}
    m = share.mapping
    if m.path_pattern:
        match = re.search(m.path_pattern, cand.rel_path)
        if match:
            ident = {k: v for k, v in match.groupdict().items() if v}
    if not ident and m.sidecar:
        fs, root = share_fs(share, campaign)
        side = posixpath.join(posixpath.dirname(cand.full_path), m.sidecar)
        if fs.exists(side):
            with fs.open(side, "r") as fh:
                data = yaml.safe_load(fh.read()) or {}
            ident = {k: str(v) for k, v in data.items() if k in ("sample", "cell")}
    if not ident:
        return None, None, (f"cannot tell the sample of {cand.rel_path!r}: it matches neither the share's "
                            f"path_pattern nor a sidecar; move it under a sample folder or add a sidecar")
    if "sample" in ident:
        sample = campaign.sample(ident["sample"])
        if sample is None:
            return None, None, (f"{cand.rel_path!r} maps to sample {ident['sample']!r}, which the campaign does "
                                f"not define; add it to samples: in the config")
        return sample.id, sample.cell, None
    cell = campaign.cell(ident["cell"])
    if cell is None:
        return None, None, (f"{cand.rel_path!r} maps to cell {ident['cell']!r}, which the campaign does not "
                            f"define; add it to cells: in the config")
    owner = next((s.id for s in campaign.samples if s.cell == cell.id), None)
    return owner, cell.id, None


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)
