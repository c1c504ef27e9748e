"""The damaged-file corpus: variants of every real test file, and a sandbox that reads each one.

Variants are derived from each file of ``tests/data`` (its technique and reader come from the census
tables ``tests/expectations/*.tsv``) and written to a temporary folder; nothing is committed. Every
randomised choice is seeded from the file's sha256, so a failure reproduces.

Each read runs in a forked child process with an address-space limit and a wall-clock limit, so a
reader that hangs or allocates without bound fails its own case and cannot stop the run.

``python -m tests.hardening.corpus`` prints the figures table of the whole corpus.
"""
from __future__ import annotations

import csv
import hashlib
import multiprocessing
import os
import random
import re
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
EXPECTATIONS = ROOT / "tests" / "expectations"

#: per-read limits of the sandbox
TIME_LIMIT_S = float(os.environ.get("SOCSCOPE_CORPUS_TIME_LIMIT", "60"))
MEMORY_LIMIT_BYTES = 2 << 30  # on top of what the forked test process already maps

PROGRESS = bool(os.environ.get("SOCSCOPE_CORPUS_PROGRESS"))
QUICK_KINDS = ("zero", "trunc1", "random", "suffix")
ALL_KINDS = ("zero", "trunc1", "trunc50", "trunc99", "flip", "random", "longline", "utf16", "suffix")

#: words one of which a refusal must contain, per variant class: the reason names the defect
DEFECT_WORDS: dict[str, tuple[str, ...]] = {
    "zero": ("empty",),
    "trunc": ("truncated", "cut short", "incomplete", "ends at", "ends after", "ends before", "ends inside",
              "no data", "header only", "too short", "holds no"),
    "flip": ("damaged", "corrupt", "not valid", "invalid", "malformed", "checksum", "not utf-8", "cannot parse",
             "not a number", "unreadable", "recognises", "truncated", "no data", "missing", "has no",
             "holds no", "unknown", "not recognised", "not a", "declares no", "no working-electrode"),
    "random": ("recognises", "not recognised"),
    "longline": ("line", "long"),
    "utf16": ("utf-16",),
    "suffix": (),
}
#: what a refusal must never say: generic crash words and raw exception texts
FORBIDDEN = ("unexpected", "reader bug", "traceback", "[errno", "index out of", "is out of bounds",
             "unpack requires", "invalid literal", "could not convert", "object has no attribute",
             "nonetype", "keyerror", "indexerror", "list index")
MAX_REASON = 500


@dataclass(frozen=True)
class Case:
    file: str  # relative to tests/data
    technique: str
    reader: str
    outcome: str  # "read" or "refused: <words>"

    @property
    def path(self) -> Path:
        return DATA / self.file


def cases() -> list[Case]:
    out = []
    for table in sorted(EXPECTATIONS.glob("*.tsv")):
        with table.open(newline="", encoding="utf-8") as handle:
            out += [Case(r["file"], r["technique"], r["reader"], r["outcome"])
                    for r in csv.DictReader(handle, delimiter="\t")]
    return sorted(out, key=lambda c: c.file)


def is_text(content: bytes) -> bool:
    """Text formats: no NUL byte anywhere (Nanoscope's text header is followed by binary data)."""
    return bool(content) and b"\x00" not in content


def _seed(content: bytes, kind: str) -> random.Random:
    return random.Random(hashlib.sha256(content).hexdigest() + kind)


def make_variant(kind: str, content: bytes, name: str) -> tuple[bytes, str] | None:
    """The damaged bytes and file name of one variant class, or None where the class does not apply."""
    suffix = Path(name).suffix
    stem = Path(name).stem
    if kind == "zero":
        return b"", name
    if kind.startswith("trunc"):
        share = int(kind[5:])
        return content[: len(content) * share // 100], name
    if kind == "flip":
        if not content:
            return None
        pos = _seed(content, kind).randrange(min(256, len(content)))
        return content[:pos] + bytes([content[pos] ^ 0xFF]) + content[pos + 1:], name
    if kind == "random":
        rng = _seed(content, kind)
        return rng.randbytes(min(len(content), 256 * 1024) or 1024), name
    if kind == "longline":
        return (b"x" * (1 << 20) + b"\n" + content, name) if is_text(content) else None
    if kind == "utf16":
        if not is_text(content):
            return None
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = content.decode("cp1252", errors="replace")
        return text.encode("utf-16"), name  # with its byte-order mark, as Windows tools write it
    if kind == "suffix":
        wrong = ".bin" if suffix.lower() != ".bin" else ".dat"
        return content, stem + wrong
    raise ValueError(kind)


# ---------------------------------------------------------------- the sandboxed read

def fingerprint(measurements: list[Any]) -> str:
    """A digest of the measured values (kind, part, channels and every value), not of the meta data."""
    import numpy as np

    h = hashlib.sha256()
    for m in measurements:
        h.update(f"{m.technique}|{m.kind}|{m.part}|{m.mode}".encode())
        data = m.data
        keys = list(data.columns) if hasattr(data, "columns") else list(data)
        for key in keys:
            arr = np.asarray(data[key])
            h.update(f"|{key}|{m.units.get(key)}|{arr.shape}|".encode())
            if arr.dtype.kind in "fiub":
                h.update(np.ascontiguousarray(np.nan_to_num(arr.astype("float64"), nan=1.2345e300)).tobytes())
            else:
                h.update(repr(arr.tolist()).encode())
    return h.hexdigest()


def truncation_flags(measurements: list[Any]) -> list[str]:
    return [str(m.meta.get("truncated")) for m in measurements if m.meta.get("truncated")]


def read_in_child(path: str, name: str, technique: str) -> dict[str, Any]:
    """Detect by content among the technique's readers, read through the registry (run in the child)."""
    from foundation.contract import UnreadableFile
    from foundation.registry import read_measurements

    try:
        reader, ms = read_measurements(Path(path), "0" * 64, name, technique_name=technique)
    except UnreadableFile as exc:
        return {"status": "refused", "reason": str(exc), "type": type(exc).__name__}
    except BaseException as exc:  # noqa: BLE001 - the point is to see everything
        return {"status": "crash", "type": type(exc).__name__, "reason": str(exc)[:2000],
                "traceback": traceback.format_exc()[-3000:]}
    return {"status": "read", "reader": reader.name, "fingerprint": fingerprint(ms),
            "truncated": truncation_flags(ms), "n": len(ms)}


def _child(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        mapped = int(fh.read().split()[0]) * resource.getpagesize()
    limit = mapped + MEMORY_LIMIT_BYTES
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # what the reader (or a library under it) prints lands in the pipeline's logs: count it
    import tempfile

    sink = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(sink.fileno(), 1)
    os.dup2(sink.fileno(), 2)
    try:
        result = fn(*args)
    except BaseException as exc:  # noqa: BLE001
        result = {"status": "crash", "type": type(exc).__name__, "reason": str(exc)[:2000]}
    sys.stdout.flush()
    sys.stderr.flush()
    sink.seek(0)
    result["printed"] = sink.read(4096)
    conn.send(result)
    conn.close()
    os._exit(0)


#: imported once by the fork server, so that each child starts warm (a cold child spends seconds
#: importing pandas, h5py, igor2... before it reads a byte)
PRELOAD = ["tests.hardening.corpus", "foundation.registry", "tasks.echem.plugin", "tasks.afm.plugin", "tasks.sxpd.plugin",
           "tasks.nexafs.plugin", "pandas", "pyarrow.csv", "h5py", "igor2.binarywave", "gwyfile", "galvani",
           "fastnda", "scipy.signal"]


def _context() -> Any:
    """Children are forked from a fork server that imported the readers' libraries but never ran them.

    Not from the test process itself: once polars (under fastnda) or Arrow has started its thread
    pool, a plain fork can inherit a held lock and hang — a hang of the harness, not of the reader.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def run_limited(jobs: Iterable[tuple[Any, Callable[..., Any], tuple]], workers: int | None = None,
                time_limit: float = TIME_LIMIT_S) -> dict[Any, dict[str, Any]]:
    """Run ``fn(*args)`` of each (key, fn, args) in its own forked child, ``workers`` at a time.

    A child that outlives ``time_limit`` is killed and reported as a hang; one that dies without an
    answer (killed by the memory limit, a segfault) as a crash.
    """
    ctx = _context()
    pending = list(jobs)
    workers = workers or max(1, len(os.sched_getaffinity(0)))
    running: dict[Any, tuple[Any, Any, float, Any]] = {}  # conn -> (key, process, started, ...)
    results: dict[Any, dict[str, Any]] = {}
    while pending or running:
        while pending and len(running) < workers:
            key, fn, args = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
            proc.start()
            child.close()
            running[parent] = (key, proc, time.monotonic())
        ready = wait(list(running), timeout=0.5)
        for conn in ready:
            key, proc, started = running.pop(conn)
            try:
                results[key] = conn.recv()
                results[key]["seconds"] = time.monotonic() - started
            except EOFError:
                proc.join(5)
                results[key] = {"status": "crash", "type": "died", "reason": f"exit code {proc.exitcode}"}
            if PROGRESS:
                print(key, results[key]["status"], round(time.monotonic() - started, 1), file=sys.stderr, flush=True)
            conn.close()
            proc.join(5)
        now = time.monotonic()
        for conn, (key, proc, started) in list(running.items()):
            if now - started > time_limit:
                proc.kill()
                proc.join(5)
                conn.close()
                del running[conn]
                results[key] = {"status": "hang", "type": "timeout",
                                "reason": f"still running after {time_limit:.0f} s, killed"}
    return results


def spin() -> None:
    """A stand-in for a reader that never returns (the sandbox's own test)."""
    while True:
        pass


def allocate(gigabytes: int = 3) -> dict[str, Any]:
    """A stand-in for a reader that allocates without bound (the sandbox's own test)."""
    return {"status": "read", "size": len(bytearray(gigabytes << 30))}


# ---------------------------------------------------------------- judging an outcome

def reason_problems(reason: str, content: bytes, name: str) -> list[str]:
    """What is wrong with a refusal text itself: too long, control characters, file bytes, crash words."""
    problems = []
    if len(reason) > MAX_REASON:
        problems.append(f"reason is {len(reason)} characters long (limit {MAX_REASON})")
    if any(not ch.isprintable() for ch in reason):
        problems.append("reason holds non-printable characters")
    low = reason.lower()
    problems += [f"reason says {word!r}" for word in FORBIDDEN if word in low]
    scrubbed = reason.replace(name, "").replace(Path(name).stem, "").encode("utf-8", "replace")
    for i in range(max(0, len(scrubbed) - 19)):
        run = scrubbed[i:i + 20]
        if run in content:
            problems.append(f"reason quotes 20+ bytes of the file: {run!r}")
            break
    return problems


@dataclass
class Verdict:
    case: Case
    kind: str
    outcome: str  # identical | flagged | line-end | refused | other
    detail: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def judge(case: Case, kind: str, original: dict[str, Any], got: dict[str, Any], content: bytes, name: str) -> Verdict:
    seconds = got.get("seconds", 0.0)
    status = got["status"]
    printed = got.get("printed", b"")
    if len(printed) > MAX_REASON:  # a library dumping the file into the logs
        return Verdict(case, kind, "other", f"the read printed {len(printed)}+ bytes: {printed[:120]!r}", seconds)
    if status in ("crash", "hang"):
        return Verdict(case, kind, "other", f"{got['type']}: {got['reason'][:300]}", seconds)
    if status == "read":
        if original["status"] == "read" and got["fingerprint"] == original["fingerprint"]:
            return Verdict(case, kind, "identical", got["reader"], seconds)
        if kind.startswith("trunc") and got["truncated"]:
            return Verdict(case, kind, "flagged", "; ".join(got["truncated"])[:300], seconds)
        if kind.startswith("trunc") and is_text(content) and _cut_at_line_end(case, kind):
            # the cut fell on a line end: what is left is a whole, shorter table, which no reader of
            # a format without a declared length can tell from a shorter export
            return Verdict(case, kind, "line-end", got["reader"], seconds)
        what = "original refused" if original["status"] != "read" else "values differ from the original"
        return Verdict(case, kind, "other", f"read by {got['reader']} without a flag ({what})", seconds)
    reason = got["reason"]
    problems = reason_problems(reason, content, name)
    words = DEFECT_WORDS["trunc" if kind.startswith("trunc") else kind]
    named = any(w in reason.lower() for w in words)
    names = (name, case.path.name)
    if not named and original["status"] == "refused":
        named = _same_refusal(reason, original["reason"], names)
    if kind == "suffix":
        named = original["status"] == "refused" and _same_refusal(reason, original["reason"], names)
    if not named:
        problems.append(f"reason names none of {list(words)}")
    if problems:
        return Verdict(case, kind, "other", f"{reason[:300]!r}: {'; '.join(problems)}", seconds, problems)
    return Verdict(case, kind, "refused", reason[:300], seconds)


def _cut_at_line_end(case: Case, kind: str) -> bool:
    content = case.path.read_bytes()
    cut = len(content) * int(kind[5:]) // 100
    # at a line end, or just before one: either way every row left is whole
    return 0 < cut and (content[cut - 1:cut] in (b"\n", b"\r") or content[cut:cut + 1] in (b"\n", b"\r"))


def _same_refusal(reason: str, original_reason: str, names: tuple[str, ...]) -> bool:
    """The same refusal as the original's, whatever the file is called."""
    for name in list(names) + [Path(n).stem for n in names]:
        reason, original_reason = reason.replace(name, "<file>"), original_reason.replace(name, "<file>")
    # byte counts and offsets differ between a copy and a damaged copy; the diagnosis does not
    return re.sub(r"\d+", "#", reason)[:80] == re.sub(r"\d+", "#", original_reason)[:80]


def run_corpus(selected: list[Case], kinds: Iterable[str], folder: Path,
               workers: int | None = None) -> list[Verdict]:
    """Write the variants of each case to ``folder``, read originals and variants in the sandbox, judge."""
    jobs, variants = [], {}
    for i, case in enumerate(selected):
        content = case.path.read_bytes()
        jobs.append(((i, "original"), read_in_child, (str(case.path), case.path.name, case.technique)))
        for kind in kinds:
            made = make_variant(kind, content, case.path.name)
            if made is None:
                continue
            data, name = made
            target = folder / f"{i:03d}-{kind}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            variants[(i, kind)] = (case, content, name)
            jobs.append(((i, kind), read_in_child, (str(target), name, case.technique)))
    results = run_limited(jobs, workers)
    verdicts = []
    for (i, kind), (case, content, name) in variants.items():
        verdicts.append(judge(case, kind, results[(i, "original")], results[(i, kind)], content, name))
    return verdicts


def figures(verdicts: list[Verdict]) -> str:
    """The acceptance table: variants tried / read identically / refused with a specific reason / other."""
    rows = ["| variant | tried | read identically | truncation flagged | cut at a line end (a valid shorter table) "
            "| refused, defect named | other |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    kinds = sorted({v.kind for v in verdicts}, key=ALL_KINDS.index)
    for kind in kinds + ["all"]:
        vs = [v for v in verdicts if kind in ("all", v.kind)]
        count = {o: sum(v.outcome == o for v in vs) for o in ("identical", "flagged", "line-end", "refused", "other")}
        rows.append(f"| {kind} | {len(vs)} | {count['identical']} | {count['flagged']} | {count['line-end']} "
                    f"| {count['refused']} | {count['other']} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m tests.hardening.corpus [kind ...]
    import tempfile

    sys.path.insert(0, str(ROOT))
    wanted = tuple(sys.argv[1:]) or ALL_KINDS
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="socscope-corpus-") as tmp:
        verdicts = run_corpus(cases(), wanted, Path(tmp))
    for v in verdicts:
        if v.outcome == "other":
            print(f"OTHER {v.kind:9s} {v.case.file}: {v.detail}")
    print(figures(verdicts))
    slowest = sorted(verdicts, key=lambda v: -v.seconds)[:5]
    print("slowest:", [(v.case.file.split('/')[-1], v.kind, round(v.seconds, 1)) for v in slowest])
    print(f"{time.monotonic() - started:.0f} s")
