"""A file reads the same from the content-addressed raw store (no name) as from its share (its name)."""
from __future__ import annotations

import shutil

import pandas as pd

from foundation.rawfile import under_original_name
from foundation.registry import read_measurements
from tasks.testing import sha256_of


def test_ndax_reads_from_a_hash_named_store_file(real, tmp_path):
    original = real / "echem/neware/test.ndax"
    stored = tmp_path / sha256_of(original)  # how the raw store names it: no suffix
    shutil.copyfile(original, stored)
    _, (from_share,) = read_measurements(original, "0" * 64, original.name, technique_name="echem")
    reader, (from_store,) = read_measurements(stored, "0" * 64, original.name, technique_name="echem")
    assert reader.name == "neware-nda"
    pd.testing.assert_frame_equal(from_store.data, from_share.data)


def test_original_name_is_reduced_to_a_safe_base_name(tmp_path):
    stored = tmp_path / "abc123"
    stored.write_bytes(b"x")
    with under_original_name(stored, "../../etc/run 1\nof today.mpt") as named:
        assert named.name == "run 1_of today.mpt"
        assert named.parent != tmp_path and named.read_bytes() == b"x"
    assert not named.exists()  # the temporary name goes away after the read
    with under_original_name(stored, "abc123") as same:
        assert same == stored
