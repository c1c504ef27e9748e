"""Hostile and awkward shares (issue 16, "Shares"): symlinks, files still being written, files replaced
under the same name, oversized files, hashing in constant memory, and names with spaces, unicode and
newlines — each through the real intake code on a toy campaign (tests/support/toy_world.py)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import fsspec
import pytest

from foundation.config import ConfigError, load_campaign, parse_campaign
from foundation.contract import Technique
from foundation.registry import technique
from socscope.cli import main
from tasks import intake as I
from tasks import pipeline
from tests.support.toy_world import toy_campaign, use_toy_registry, write_csv


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    use_toy_registry(monkeypatch)


def _intake(cfg):
    c = load_campaign(cfg)
    wh = pipeline.open_warehouse(c)
    return wh, pipeline.intake(c, wh, "t")


def _list(cfg, timeout: float = 20.0):
    """list_share of the toy share, failing (not hanging) if it does not return in ``timeout`` s."""
    c = load_campaign(cfg)
    out: list = []
    t = threading.Thread(target=lambda: out.append(I.list_share(c.shares[0], c)), daemon=True)
    t.start()
    t.join(timeout)
    assert out, f"list_share did not return within {timeout} s"
    return out[0]


def _old(path: Path, age: float = 3600) -> None:
    t = time.time() - age
    os.utime(path, (t, t))


# ----------------------------------------------------------------------------------- 1. symlinks
def test_symlinks_out_of_the_share_are_refused_and_shown_in_status(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    outside = tmp_path / "outside"
    secret = write_csv(outside / "secret.csv", [(9, 9)])
    write_csv(outside / "S1/other.csv", [(8, 8)])
    (tmp_path / "share/S1").mkdir(parents=True)
    os.symlink(secret, tmp_path / "share/S1/link.csv")
    os.symlink(outside / "S1", tmp_path / "share/S1/linked_dir")
    wh, s = _intake(cfg)
    assert s.seen == 0
    assert sorted(r.split(":")[1] for r in s.refused) == ["S1/link.csv", "S1/linked_dir"]
    assert all("outside the share" in r for r in s.refused)
    assert len(wh.query("select * from raw_files")) == 0  # nothing behind either link was read
    q = wh.query("select original_name, status, reason from quarantine order by 1")
    assert q.original_name.tolist() == ["S1/link.csv", "S1/linked_dir"] and set(q.status) == {"refused"}
    capsys.readouterr()
    main(["status", "--config", str(cfg)])
    out = capsys.readouterr().out
    assert "S1/link.csv" in out and "outside the share" in out


def test_a_refusal_is_cleared_once_the_link_is_replaced_by_a_real_file(tmp_path):
    cfg = toy_campaign(tmp_path)
    secret = write_csv(tmp_path / "outside/secret.csv", [(9, 9)])
    (tmp_path / "share/S1").mkdir(parents=True)
    link = tmp_path / "share/S1/link.csv"
    os.symlink(secret, link)
    wh, _ = _intake(cfg)
    assert len(wh.query("select * from quarantine")) == 1
    link.unlink()
    write_csv(link, [(1, 2)])
    wh, s = _intake(cfg)
    assert s.seen == 1 and not s.refused
    assert len(wh.query("select * from quarantine")) == 0


def test_symlinks_inside_the_share_are_followed_once(tmp_path):
    cfg = toy_campaign(tmp_path)
    real = write_csv(tmp_path / "share/S1/real.csv", [(1, 2)])
    os.symlink(real, tmp_path / "share/S1/alias.csv")
    os.symlink(tmp_path / "share/S1", tmp_path / "share/S2")  # a folder alias: its files are listed once, at S1
    wh, s = _intake(cfg)
    assert s.seen == 2 and s.new_files == 1 and not s.refused
    paths = wh.query("select path from sightings order by 1").path.tolist()
    assert paths == ["S1/alias.csv", "S1/real.csv"]


def test_symlink_loops_dangling_links_and_pipes_do_not_hang(tmp_path):
    cfg = toy_campaign(tmp_path)
    d = tmp_path / "share/S1"
    write_csv(d / "good.csv", [(1, 2)])
    for name in ("up1", "up2", "up3"):  # three folder links to the parent: 3**40 paths if followed
        os.symlink(d, d / name)
    os.symlink(d / "b.csv", d / "a.csv")  # a -> b -> a
    os.symlink(d / "a.csv", d / "b.csv")
    os.symlink(d / "missing.csv", d / "dangling.csv")
    os.mkfifo(d / "pipe.csv")  # opening it to hash would block forever
    complete, pending, refused = _list(cfg)
    assert [c.rel_path for c in complete] == ["S1/good.csv"]
    reasons = {r.rel_path: r.reason for r in refused}
    assert set(reasons) == {"S1/a.csv", "S1/b.csv", "S1/dangling.csv", "S1/pipe.csv"}
    assert "symlink loop" in reasons["S1/a.csv"] and "symlink loop" in reasons["S1/b.csv"]
    assert "cannot be followed" in reasons["S1/dangling.csv"]
    assert "not a regular file" in reasons["S1/pipe.csv"]
    wh, s = _intake(cfg)
    assert s.seen == 1 and len(s.refused) == 4


def test_a_bundle_with_a_member_linking_out_of_the_share_is_refused(tmp_path):
    cfg = toy_campaign(tmp_path, bundle_patterns=["**/*.run"])
    secret = write_csv(tmp_path / "outside/secret.csv", [(9, 9)])
    write_csv(tmp_path / "share/S1/ch1.run/data.csv", [(1, 2)])
    os.symlink(secret, tmp_path / "share/S1/ch1.run/extra.csv")
    complete, _, refused = _list(cfg)
    assert not complete and [r.rel_path for r in refused] == ["S1/ch1.run"]
    assert "outside the share" in refused[0].reason


# ------------------------------------------------------------------- 2. files still being written
def test_a_fresh_file_waits_for_settle_seconds_and_a_growing_one_keeps_waiting(tmp_path):
    cfg = toy_campaign(tmp_path, settle_seconds=30)
    f = write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    complete, pending, _ = _list(cfg)
    assert not complete and [c.rel_path for c in pending] == ["S1/a.csv"]
    with f.open("a") as fh:  # the writer appends: the mtime moves with it
        fh.write("3,4\n")
    complete, pending, _ = _list(cfg)
    assert not complete and len(pending) == 1
    _old(f, 31)
    complete, _, _ = _list(cfg)
    assert [c.size for c in complete] == [f.stat().st_size]


def test_a_file_growing_under_an_old_mtime_between_listing_and_hash_is_left_for_the_next_run(tmp_path, monkeypatch):
    """A writer that keeps the mtime old (a copy preserving times, a skewed clock): age alone would take
    it. The second listing (size and mtime re-read after hashing) sees the growth."""
    cfg = toy_campaign(tmp_path, settle_seconds=30)
    f = write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    _old(f)
    real_sha = I.sha256_of_stream
    grown = []

    def hash_while_growing(fh):
        digest = real_sha(fh)
        if not grown:
            st = f.stat()
            with f.open("a") as out:
                out.write("3,4\n")
            os.utime(f, (st.st_atime, st.st_mtime))  # the mtime stays where it was
            grown.append(True)
        return digest

    monkeypatch.setattr(I, "sha256_of_stream", hash_while_growing)
    wh, s = _intake(cfg)
    assert s.seen == 0 and s.pending == ["lab:S1/a.csv"] and not s.refused
    assert len(wh.query("select * from raw_files")) == 0 and not list((tmp_path / "raw").rglob("*.tmp"))
    wh, s = _intake(cfg)  # stable now
    stored = Path(wh.query("select store_path from raw_files").store_path[0])
    assert s.seen == 1 and stored.read_bytes() == f.read_bytes() and b"3,4" in stored.read_bytes()


def test_a_file_changed_after_listing_or_removed_is_pending_not_a_crash(tmp_path, monkeypatch):
    cfg = toy_campaign(tmp_path)
    a = write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    b = write_csv(tmp_path / "share/S1/b.csv", [(1, 2)])
    c = write_csv(tmp_path / "share/S1/c.csv", [(5, 6)])
    real_list = I.list_share

    def list_then_touch(share, campaign, now=None):
        out = real_list(share, campaign, now)
        with a.open("a") as fh:
            fh.write("7,8\n")
        b.unlink()
        return out

    monkeypatch.setattr(I, "list_share", list_then_touch)
    wh, s = _intake(cfg)
    assert s.seen == 1 and sorted(s.pending) == ["lab:S1/a.csv", "lab:S1/b.csv"]
    assert wh.query("select path from sightings").path.tolist() == ["S1/c.csv"]
    assert c.exists()


# ------------------------------------------------------------- 3. replaced under the same name
def _versions(wh):
    return wh.query("select s.raw_sha256, s.superseded_at is null as current from sightings s "
                    "where s.path = 'S1/a.csv' order by s.first_seen")


def test_a_replaced_file_is_a_new_version_and_the_old_one_is_kept(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    cfg.write_text(cfg.read_text() + "expected: {S1: {toy: 1}}\n")
    f = write_csv(tmp_path / "share/S1/a.csv", [(1, 2), (3, 4)])
    v1 = f.read_bytes()
    _old(f, 100)
    pipeline.run_local(cfg)
    f.unlink()
    write_csv(f, [(5, 6), (7, 8), (9, 10)])
    v2 = f.read_bytes()
    _old(f, 50)  # a later mtime, even on a coarse clock
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    sha1, sha2 = hashlib.sha256(v1).hexdigest(), hashlib.sha256(v2).hexdigest()
    stores = wh.query("select raw_sha256, store_path from raw_files order by first_seen")
    assert stores.raw_sha256.tolist() == [sha1, sha2]
    assert [Path(p).read_bytes() for p in stores.store_path] == [v1, v2]  # both raw files in the raw store
    assert _versions(wh).values.tolist() == [[sha1, False], [sha2, True]]  # lineage shows both
    assert wh.query("select raw_sha256, older_versions from share_files").values.tolist() == [[sha2, 1]]
    rows = wh.query("select raw_sha256, count(*) as n from toy_values group by 1 order by n")
    assert rows.values.tolist() == [[sha1, 2], [sha2, 3]]  # both versions' rows, told apart by raw_sha256
    capsys.readouterr()
    main(["status", "--config", str(cfg), "--format", "json"])
    rows = [[r[k] for k in ("sample_id", "technique", "expected", "received", "processed", "verdict")]
            for r in json.loads(capsys.readouterr().out)["samples"]]
    assert rows == [["S1", "toy", 1, 1, 1, "complete"]]  # received: the file the share holds, counted once

    tables = wh.manifest().tables
    pipeline.intake(load_campaign(cfg), wh, "again")
    assert wh.manifest().tables == tables  # an unchanged share rewrites nothing

    f.write_bytes(v1)  # put back: the first version is current again, nothing is stored twice
    _old(f, 10)
    pipeline.intake(load_campaign(cfg), wh, "revert")
    assert _versions(wh).values.tolist() == [[sha1, True], [sha2, False]]
    assert len(wh.query("select * from raw_files")) == 2


def test_a_touched_file_with_the_same_content_is_not_a_new_version_nor_hashed_again(tmp_path, monkeypatch):
    cfg = toy_campaign(tmp_path)
    f = write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    _old(f, 100)
    wh, _ = _intake(cfg)
    _old(f, 50)
    _intake(cfg)
    hashed = []
    real = I.store_candidate
    monkeypatch.setattr(I, "store_candidate", lambda *a, **k: hashed.append(a[0].rel_path) or real(*a, **k))
    wh, s = _intake(cfg)
    assert s.seen == 1 and s.new_files == 0 and hashed == []
    assert len(wh.query("select * from sightings")) == 1


# ------------------------------------------------------------------------- 4. size limits
def test_a_file_over_the_share_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    cfg = toy_campaign(tmp_path, max_file_mb=100)
    big = tmp_path / "share/S1/huge.csv"
    big.parent.mkdir(parents=True)
    with big.open("wb") as fh:  # 200 MB, sparse: no disk used
        fh.truncate(200_000_000)
    write_csv(tmp_path / "share/S1/small.csv", [(1, 2)])
    opened = []
    real_open = I.store_candidate
    monkeypatch.setattr(I, "store_candidate", lambda c, *a, **k: opened.append(c.rel_path) or real_open(c, *a, **k))
    wh, s = _intake(cfg)
    assert opened == ["S1/small.csv"]  # the big one was never opened, let alone hashed
    assert len(s.refused) == 1
    reason = wh.query("select reason from quarantine").reason[0]
    assert "200 MB" in reason and "100 MB limit" in reason and "max_file_mb" in reason


def test_size_limits_default_per_technique_and_validate(tmp_path, monkeypatch):
    import foundation.registry as reg

    monkeypatch.setitem(reg.TECHNIQUE_MODULES, "nexafs", "tasks.nexafs.plugin:TECHNIQUE")
    cfg = toy_campaign(tmp_path)
    c = load_campaign(cfg)
    share = c.shares[0]
    fallback = Technique.__dataclass_fields__["max_file_mb"].default
    assert share.max_file_mb is None and I.size_limit_mb(share) == fallback  # toy: no default of its own
    nexafs = share.model_copy(update={"technique": "nexafs"})
    assert I.size_limit_mb(nexafs) == technique("nexafs").max_file_mb == 1024
    assert I.size_limit_mb(share.model_copy(update={"max_file_mb": 5.0})) == 5.0
    data = c.model_dump()
    data["shares"][0]["max_file_mb"] = 0
    with pytest.raises(ConfigError, match="max_file_mb"):
        parse_campaign(data)


def test_a_bundle_over_the_limit_is_refused(tmp_path):
    cfg = toy_campaign(tmp_path, bundle_patterns=["**/*.run"], max_file_mb=1)
    d = tmp_path / "share/S1/ch1.run"
    d.mkdir(parents=True)
    for i in range(3):
        (d / f"part{i}.bin").write_bytes(b"\0" * 400_000)  # each under, together over 1 MB
    complete, _, refused = _list(cfg)
    assert not complete and "1 MB limit" in refused[0].reason


# -------------------------------------------------------------- 5. hashing in constant memory
@pytest.mark.parametrize("bundle", [False, True])
def test_hashing_and_copying_stream_in_constant_memory(tmp_path, monkeypatch, bundle):
    """With 64 KiB blocks, taking a 24 MB file (or a bundle of two 12 MB files) allocates at most a
    few blocks at a time: the peak (under 1 MiB) is far below the file size."""
    monkeypatch.setattr(I, "CHUNK", 64 * 1024)
    cfg = toy_campaign(tmp_path, bundle_patterns=["**/*.run"])
    data = os.urandom(12_000_000)
    if bundle:
        for name in ("a.bin", "b.bin"):
            (tmp_path / "share/S1/ch.run").mkdir(parents=True, exist_ok=True)
            (tmp_path / f"share/S1/ch.run/{name}").write_bytes(data)
    else:
        (tmp_path / "share/S1").mkdir(parents=True)
        (tmp_path / "share/S1/big.csv").write_bytes(data + data)
    c = load_campaign(cfg)
    (cand,), _, _ = I.list_share(c.shares[0], c)
    tracemalloc.start()
    try:
        sha, dest, size = I.store_candidate(cand, c.shares[0], c, str(tmp_path / "raw"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # measured: 0.14 MB for the file, 0.75 MB for the bundle (its zip spools 4 blocks in memory, then to disk)
    assert peak < 16 * 64 * 1024, peak
    assert hashlib.sha256(Path(dest).read_bytes()).hexdigest() == sha and size == Path(dest).stat().st_size


def test_a_streamed_bundle_zip_has_the_bytes_zipfile_writestr_gives(tmp_path):
    """Bundles already in a raw store must keep their sha256: the streamed zip is byte for byte the
    one built in memory with ZipFile.writestr (the way it was built before)."""
    d = tmp_path / "ch.run"
    (d / "sub").mkdir(parents=True)
    (d / "big.bin").write_bytes(os.urandom(3 * I.CHUNK + 17))
    (d / "sub/t.txt").write_text("hello\n" * 1000)
    (d / "a.txt").write_text("x")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(q for q in d.rglob("*") if q.is_file()):
            info = zipfile.ZipInfo(p.relative_to(d).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            zf.writestr(info, p.read_bytes())
    assert I.bundle_bytes(fsspec.filesystem("file"), str(d)) == buf.getvalue()


# ----------------------------------------------------------------- zero-length files at intake
def test_a_zero_length_file_does_not_break_intake(tmp_path):
    cfg = toy_campaign(tmp_path)
    (tmp_path / "share/S1").mkdir(parents=True)
    (tmp_path / "share/S1/empty.csv").write_bytes(b"")
    write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    wh, s = _intake(cfg)
    assert s.seen == 1 and len(s.refused) == 1 and "empty (0 bytes)" in s.refused[0]
    assert wh.query("select original_name from raw_files").original_name.tolist() == ["a.csv"]
    events = wh.query("select error_type, original_name from ingest_events where status = 'refused'")
    assert events.values.tolist() == [["EmptyFile", "S1/empty.csv"]]


# ------------------------------------------------------ 6. names with spaces, unicode, newlines
NAMES = ["a b.csv", "é µ 中文.csv", "new\nline.csv", "[red]markup.csv"]


def test_awkward_names_work_end_to_end(tmp_path, capsys):
    cfg = toy_campaign(tmp_path)
    for i, name in enumerate(NAMES):
        write_csv(tmp_path / "share/S1" / name, [(i, i + 1), (i + 2, i + 3)])
    write_csv(tmp_path / "share/S9/bad\nsample.csv", [(1, 1)])  # unknown sample: quarantined, name escaped
    assert main(["run", "--local", "--config", str(cfg)]) == 0
    wh = pipeline.open_warehouse(load_campaign(cfg))
    files = wh.query("select original_name, store_path from raw_files where sample_id = 'S1' order by 1")
    assert sorted(files.original_name) == sorted(NAMES)
    for name, store in files.values:  # stored under its hash, the exact bytes
        assert Path(store).read_bytes() == (tmp_path / "share/S1" / name).read_bytes()
    per_file = wh.query("select r.original_name, count(*) as n from toy_values t join raw_files r "
                        "using (raw_sha256) group by 1")
    assert dict(per_file.values.tolist()) == {n: 2 for n in NAMES}

    capsys.readouterr()
    sql = "select original_name, count(*) as n from toy_values join raw_files using (raw_sha256) group by 1"
    assert main(["query", "--config", str(cfg), sql, "--format", "csv"]) == 0
    got = {r["original_name"]: r["n"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert got == {n: "2" for n in NAMES}  # machine output: the exact names, quoted by the csv module

    assert main(["query", "--config", str(cfg), sql + " order by 1"]) == 0
    table = capsys.readouterr().out
    assert "new\\nline.csv" in table and "[red]markup.csv" in table and "é µ 中文.csv" in table
    assert not any(line.strip(" │|") .startswith("line.csv") for line in table.splitlines())
    main(["status", "--config", str(cfg)])
    status = capsys.readouterr().out
    assert "bad\\nsample.csv" in status


def test_awkward_names_are_escaped_in_summaries(tmp_path):
    cfg = toy_campaign(tmp_path, settle_seconds=3600)
    write_csv(tmp_path / "share/S1/new\nline.csv", [(1, 2)])
    secret = write_csv(tmp_path / "outside/x.csv", [(1, 2)])
    os.symlink(secret, tmp_path / "share/S1/evil\nlink.csv")
    _, s = _intake(cfg)
    assert s.pending == ["lab:S1/new\\nline.csv"]
    assert len(s.refused) == 1 and "\n" not in s.refused[0] and "evil\\nlink.csv" in s.refused[0]
    assert I.shown("é µ 中文\t\x1b[31m") == "é µ 中文\\t\\x1b[31m"


def test_a_warehouse_written_before_superseded_at_existed_still_opens_and_versions(tmp_path):
    """sightings gained a column: its older Parquet files read it as NULL (the view fills columns the
    files lack), and the next intake rewrites the table in the new contract."""
    import dataclasses

    import pyarrow.parquet as pq

    cfg = toy_campaign(tmp_path)
    f = write_csv(tmp_path / "share/S1/a.csv", [(1, 2)])
    _old(f, 100)
    wh, _ = _intake(cfg)
    m = wh.manifest()
    (entry,) = m.tables["sightings"]
    path = Path(wh._abs(entry.path))
    pq.write_table(pq.read_table(path).drop_columns(["superseded_at"]), path)
    tables = {**m.tables, "sightings": [dataclasses.replace(entry, schema="older")]}
    wh._replace_manifest(dataclasses.replace(m, version=m.version + 1, tables=tables))
    wh = pipeline.open_warehouse(load_campaign(cfg))
    assert wh.query("select count(*) as n from share_files").n[0] == 1
    write_csv(f, [(5, 6)])
    _old(f, 50)
    wh, s = _intake(cfg)
    assert s.new_files == 1 and _versions(wh).current.tolist() == [False, True]


def test_an_unreadable_file_is_refused_and_the_rest_of_the_share_is_taken(tmp_path, monkeypatch):
    cfg = toy_campaign(tmp_path)
    write_csv(tmp_path / "share/S1/locked.csv", [(1, 2)])
    write_csv(tmp_path / "share/S1/ok.csv", [(3, 4)])
    real = I.store_candidate

    def store(cand, *a, **k):  # as the share answers for a file without read permission (root reads anything)
        if cand.rel_path == "S1/locked.csv":
            raise PermissionError(13, "Permission denied")
        return real(cand, *a, **k)

    monkeypatch.setattr(I, "store_candidate", store)
    wh, s = _intake(cfg)
    assert s.seen == 1 and len(s.refused) == 1 and "read access" in s.refused[0]
    assert wh.query("select original_name, status from quarantine").values.tolist() == [["S1/locked.csv", "refused"]]
    monkeypatch.setattr(I, "store_candidate", real)
    wh, s = _intake(cfg)  # permission given: taken, and the refusal is gone
    assert s.seen == 2 and len(wh.query("select * from quarantine")) == 0


def test_a_name_that_is_not_utf8_is_taken_under_an_escaped_name(tmp_path):
    """Linux names are bytes: one with a Latin-1 byte cannot go into a string column as it is."""
    cfg = toy_campaign(tmp_path, bundle_patterns=["**/*.run"])
    write_csv(tmp_path / "share/S1/ok.csv", [(1, 2)])
    raw = os.fsencode(tmp_path / "share/S1") + b"/caf\xe9.csv"
    with open(raw, "wb") as fh:
        fh.write(b"#toy-csv\n5,6\n")
    os.makedirs(os.fsencode(tmp_path / "share/S1") + b"/ch\xe9.run")  # a bundle folder and member, too
    with open(os.fsencode(tmp_path / "share/S1") + b"/ch\xe9.run/d\xe9.bin", "wb") as fh:
        fh.write(b"data")
    pipeline.run_local(cfg)
    wh = pipeline.open_warehouse(load_campaign(cfg))
    got = wh.query("select r.original_name, count(*) as n from toy_values join raw_files r using (raw_sha256) "
                   "group by 1 order by 1").values.tolist()
    assert got == [["caf\\xe9.csv", 1], ["ok.csv", 1]]
    bundle = wh.query("select store_path from raw_files where original_name = 'ch\\xe9.run'").store_path
    assert zipfile.ZipFile(bundle[0]).namelist() == ["d\\xe9.bin"]
    tables = wh.manifest().tables
    pipeline.intake(load_campaign(cfg), wh, "again")
    assert wh.manifest().tables == tables  # the same name on every run: not a new sighting each time
