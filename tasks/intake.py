"""Intake: list a share, keep complete files, hash them, copy each distinct file once to the raw store.

Pure functions over fsspec filesystems; the intake flow only orchestrates them. A folder matched by
a share's ``bundle_patterns`` (e.g. a Toyo TOSCAT channel folder) is taken whole and packed into a
deterministic ZIP, so that it, too, is one content-addressed raw file.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import posixpath
import re
import stat
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import fsspec
import yaml

from socscope.config import Campaign, Share
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


def _escapes(fs: fsspec.AbstractFileSystem, root: str, full: str, rel: str) -> str | None:
    parts = rel.split("/")
    if ".." in parts or rel.startswith("/"):
        return f"path {rel!r} climbs out of the share with '..'"
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        real_root = os.path.realpath(root)
        real = os.path.realpath(full)
        if os.path.commonpath([real_root, real]) != real_root:
            return f"path {rel!r} is a symlink to {real}, outside the share {real_root}: refused"
    return None


def list_share(share: Share, campaign: Campaign, now: float | None = None) -> tuple[list[Candidate], list[Candidate], list[Refusal]]:
    """Return (complete files, files still being written, refused paths) of one share."""
    fs, root = share_fs(share, campaign)
    now = time.time() if now is None else now
    if not fs.exists(root):
        raise FileNotFoundError(f"share {share.name!r}: {campaign.resolve(share.url)} does not exist or is not "
                                f"reachable; check its url in the campaign config")
    entries = fs.find(root, withdirs=True, detail=True)
    bundles: dict[str, list[tuple[str, dict]]] = {}
    files: list[tuple[str, dict]] = []
    for full, info in sorted(entries.items()):
        rel = full[len(root) + 1:] if full.startswith(root + "/") else posixpath.relpath(full, root)
        if info.get("type") == "directory":
            if _matches(rel, share.bundle_patterns):
                bundles[rel] = []
            continue
        owner = next((b for b in bundles if rel.startswith(b + "/")), None)
        if owner is not None:
            bundles[owner].append((full, info))
        else:
            files.append((full, info))

    complete, pending, refused = [], [], []
    marker = share.done_marker_suffix
    names = {f for f, _ in files}
    for full, info in files:
        rel = full[len(root) + 1:]
        if marker and rel.endswith(marker):
            continue
        if not _matches(rel, share.patterns) or _matches(rel, share.exclude):
            continue
        bad = _escapes(fs, root, full, rel)
        if bad:
            refused.append(Refusal(share.name, rel, bad))
            continue
        mtime = _mtime(info, fs, full)
        cand = Candidate(share.name, rel, full, int(info.get("size") or 0), mtime)
        done = (marker and (full + marker) in names) or (not marker and now - mtime >= share.settle_seconds)
        (complete if done else pending).append(cand)
    for rel, members in sorted(bundles.items()):
        bad = _escapes(fs, root, f"{root}/{rel}", rel)
        if bad:
            refused.append(Refusal(share.name, rel, bad))
            continue
        mtime = max((_mtime(i, fs, f) for f, i in members), default=0.0)
        cand = Candidate(share.name, rel, f"{root}/{rel}", sum(int(i.get("size") or 0) for _, i in members), mtime, True)
        done = (marker and (f"{root}/{rel}{marker}") in names) or (not marker and now - mtime >= share.settle_seconds)
        (complete if done else pending).append(cand)
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


def bundle_bytes(fs: fsspec.AbstractFileSystem, folder: str) -> bytes:
    """Deterministic ZIP of a folder: sorted entries, fixed timestamps, names relative to the folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for full in sorted(fs.find(folder)):
            name = full[len(folder.rstrip("/")) + 1:]
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, fs.cat_file(full))
    return buf.getvalue()


def store_candidate(cand: Candidate, share: Share, campaign: Campaign, raw_store: str,
                    storage_options: dict[str, Any] | None = None) -> tuple[str, str, int]:
    """Hash (streamed) and copy into the content-addressed raw store once. Returns (sha256, store path, size)."""
    fs, _ = share_fs(share, campaign)
    store_fs, store_root = fsspec.core.url_to_fs(raw_store, **(storage_options or {}))
    store_root = store_root.rstrip("/")
    if cand.is_bundle:
        data = bundle_bytes(fs, cand.full_path)
        sha = hashlib.sha256(data).hexdigest()
        dest = f"{store_root}/{sha[:2]}/{sha}"
        if not store_fs.exists(dest):
            _write_readonly(store_fs, dest, [data])
        return sha, dest, len(data)
    h = hashlib.sha256()
    with fs.open(cand.full_path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    sha = h.hexdigest()
    dest = f"{store_root}/{sha[:2]}/{sha}"
    if not store_fs.exists(dest):
        def blocks():
            with fs.open(cand.full_path, "rb") as fh:
                yield from iter(lambda: fh.read(CHUNK), b"")
        _write_readonly(store_fs, dest, blocks())
        if not _verify(store_fs, dest, sha):
            store_fs.rm(dest)
            raise IOError(f"{cand.rel_path} changed while it was copied (sha256 mismatch); it will be taken on "
                          f"the next run once it is stable")
    return sha, dest, int(store_fs.size(dest))


def _verify(fs: fsspec.AbstractFileSystem, path: str, sha: str) -> bool:
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest() == sha


def _write_readonly(fs: fsspec.AbstractFileSystem, dest: str, blocks: Iterable[bytes]) -> None:
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    if local:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{dest}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as out:
            for b in blocks:
                out.write(b)
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        fault_point("intake.raw_tmp_written")
        os.replace(tmp, dest)
    else:
        with fs.open(dest, "wb") as out:
            for b in blocks:
                out.write(b)


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
