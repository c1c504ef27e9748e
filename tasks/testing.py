"""Conformance kit: what every registered reader must do, checked on a real (or spec-built) file.

Technique test suites call ``assert_reader_conforms`` for each reader and fixture, and
``assert_rejects`` for each damaged file; ``tests/test_reader_conformance.py`` checks that every
registered reader has at least one conformance case. ``assert_nulls_have_reasons`` checks a technique's
output against the null rule of its tables (issue 18: never a bare NaN).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foundation.contract import Measurement, Reader, UnreadableFile
from foundation.registry import read_head, read_measurements
from schemas.core import TableSpec
from schemas.nulls import unexplained_nulls


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _channels(m: Measurement) -> list[str]:
    data = m.data
    if hasattr(data, "columns"):
        return [str(c) for c in data.columns]
    if isinstance(data, Mapping):
        return [str(k) for k in data]
    raise AssertionError(f"{m.kind}: data must be a DataFrame or a mapping of arrays, got {type(data).__name__}")


def assert_reader_conforms(reader: Reader, path: Path, options: Mapping[str, Any] | None = None,
                           technique: str | None = None) -> list[Measurement]:
    """The reader recognises the file by content, reads it through the registry, and states units."""
    path = Path(path)
    assert reader.name and reader.version, "a reader needs a name and a version"
    assert reader.suffixes and all(s.startswith(".") and s == s.lower() for s in reader.suffixes)
    assert reader.sniff(read_head(path), path.name), f"{reader.id} does not recognise its own file {path.name}"
    # Content decides: the same bytes under a misleading name are still recognised.
    assert reader.sniff(read_head(path), "renamed.bin"), f"{reader.id} relies on the file name of {path.name}"
    sha = sha256_of(path) if path.is_file() else "0" * 64
    used, ms = read_measurements(path, sha, path.name, technique_name=technique or reader.techniques[0],
                                 override=reader.name, options=options)
    assert used is reader
    for m in ms:
        assert m.technique in reader.techniques, f"{m.technique} not in {reader.techniques}"
        assert m.kind, "a measurement needs a kind"
        assert m.provenance is not None and m.provenance.reader == reader.id
        for ch in _channels(m):
            assert ch in m.units, f"{reader.id}: channel {ch!r} of {path.name} has no unit"
            assert isinstance(m.units[ch], str)
            values = m.data[ch]
            arr = np.asarray(values)
            if arr.dtype.kind == "f":
                assert np.isfinite(arr).any(), f"{reader.id}: channel {ch!r} holds no finite value"
    again = reader.read(path, dict(options or {}))
    again = again if isinstance(again, list) else [again]
    assert len(again) == len(ms), "reading twice gave a different number of measurements"
    return ms


def assert_rejects(reader: Reader, path: Path, match: str, options: Mapping[str, Any] | None = None) -> str:
    """A damaged or unsuitable file raises UnreadableFile whose reason contains ``match`` (case-insensitive)."""
    try:
        reader.read(Path(path), dict(options or {}))
    except UnreadableFile as exc:
        reason = str(exc)
        assert match.lower() in reason.lower(), f"reason {reason!r} does not mention {match!r}"
        return reason
    raise AssertionError(f"{reader.id} read {path} without complaint; expected a quarantine reason with {match!r}")


def assert_nulls_have_reasons(tables: Sequence[TableSpec], frames: Mapping[str, pd.DataFrame]) -> None:
    """Every null of a feature column in ``frames`` (a technique's output, table name -> rows) comes with a
    reason its table's null rule accepts (schemas/nulls.py). Key and lineage columns a frame lacks are
    filled with placeholders, so ``process`` output can be checked as it is."""
    import duckdb

    con = duckdb.connect()
    specs = [s for s in tables if s.name in frames]
    for spec in specs:
        df = frames[spec.name].copy()
        for col in spec.column_names:
            if col not in df.columns:
                df[col] = "placeholder" if col in ("measurement_id", "params_id") else None
        con.register(spec.name, df)
    offenders = unexplained_nulls(lambda sql: con.execute(sql).df(), specs)
    assert offenders.empty, "feature columns null without a reason (say why in the row's flags):\n" + \
        offenders.to_string(index=False)
