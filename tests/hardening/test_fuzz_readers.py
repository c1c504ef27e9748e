"""Property-based tests of every registered reader: ``sniff`` on arbitrary bytes returns a bool and
``read`` on arbitrary bytes — or on a real file of its format with arbitrary bytes changed — either
reads or raises ``UnreadableFile``; nothing else may escape. Derandomized, so CI is reproducible.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.contract import UnreadableFile
from foundation.registry import all_readers
from tests.hardening.corpus import cases

READERS = all_readers()
#: one real file per reader (the smallest the census reads with it), to mutate
SEEDS: dict[str, Path] = {}
for _case in sorted(cases(), key=lambda c: c.path.stat().st_size):
    if _case.outcome == "read":
        SEEDS.setdefault(_case.reader, _case.path)

QUICK = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))
SLOW = settings(QUICK, max_examples=300)
PER_READ_SECONDS = 20


@contextmanager
def time_limit(seconds: int):
    """A read that runs past ``seconds`` fails the example (a hang found by the fuzzer)."""
    def expire(signum, frame):
        raise TimeoutError(f"read did not finish in {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _read_or_refuse(reader, folder: Path, name: str, content: bytes) -> None:
    path = folder / name
    path.write_bytes(content)
    try:
        with time_limit(PER_READ_SECONDS):
            reader.read(path, {})
    except UnreadableFile as exc:
        assert str(exc).strip(), "a refusal needs a reason"


def _name(reader) -> str:
    return "fuzzed" + reader.suffixes[0]


@st.composite
def mutations(draw, content: bytes) -> bytes:
    """The real file with a few bytes overwritten, a slice removed, or cut short."""
    data = bytearray(content)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "delete", "cut", "insert"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[pos: pos + draw(st.integers(1, 64))]
        elif kind == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def _fuzz_tests(reader_name: str, config: settings):
    reader = READERS[reader_name]

    @config
    @given(head=st.binary(max_size=4096), name=st.sampled_from(["x" + s for s in reader.suffixes] + ["x.bin", ""]))
    def sniff(head, name):
        assert reader.sniff(head, name) in (True, False)

    @config
    @given(content=st.binary(max_size=8192))
    def read_random(tmp_path_factory, content):
        _read_or_refuse(reader, tmp_path_factory.mktemp("fuzz"), _name(reader), content)

    seed = SEEDS.get(reader_name)

    def read_mutated(tmp_path_factory):
        if seed is None:
            return  # no real file of this format in tests/data: arbitrary bytes only
        content = seed.read_bytes()

        @config
        @given(data=mutations(content))
        def run(data):
            _read_or_refuse(reader, tmp_path_factory.mktemp("fuzz"), seed.name, data)

        run()

    return sniff, read_random, read_mutated


@pytest.mark.parametrize("reader_name, budget", [
    *((name, QUICK) for name in sorted(READERS)),
    *(pytest.param(name, SLOW, marks=pytest.mark.slow, id=f"{name}-long") for name in sorted(READERS)),
])
def test_sniff_and_read_on_arbitrary_bytes(reader_name, budget, tmp_path_factory):
    sniff, read_random, read_mutated = _fuzz_tests(reader_name, budget)
    sniff()
    read_random(tmp_path_factory)
    read_mutated(tmp_path_factory)
