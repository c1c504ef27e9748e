"""The real and peer test files are in the repository, byte for byte as their manifests list them."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from tests.conftest import PEER, REAL


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _real_entries() -> dict[str, str]:
    lines = (REAL / "SHA256SUMS").read_text().splitlines()
    return {name.strip().lstrip("*").removeprefix("./"): digest for digest, name in (line.split(maxsplit=1) for line in lines if line)}


def _peer_entries() -> dict[str, str]:
    with (PEER / "MANIFEST.tsv").open(newline="") as handle:
        return {row["file"]: row["sha256"] for row in csv.DictReader(handle, delimiter="\t")}


def _files_on_disk(folder: Path, manifests: set[str]) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name not in manifests}


@pytest.mark.parametrize("folder, entries, manifests", [
    (REAL, _real_entries, {"MANIFEST.md", "SHA256SUMS"}),
    (PEER, _peer_entries, {"MANIFEST.tsv"}),
], ids=["real", "peer"])
def test_every_listed_file_is_present_and_unchanged(folder, entries, manifests):
    listed = entries()
    assert listed, f"{folder} manifest lists no file"
    missing = sorted(name for name in listed if not (folder / name).is_file())
    assert not missing, f"test files listed but missing from {folder}: {missing}"
    changed = sorted(name for name, digest in listed.items() if _sha256(folder / name) != digest)
    assert not changed, f"test files whose bytes differ from the manifest's sha256: {changed}"
    unlisted = sorted(_files_on_disk(folder, manifests) - set(listed))
    assert not unlisted, f"files in {folder} without a manifest entry (add source, licence, sha256): {unlisted}"


def test_real_manifest_names_a_licence_for_every_file():
    table = (REAL / "MANIFEST.md").read_text()
    for name in _real_entries():
        row = next((line for line in table.splitlines() if f"`{name}`" in line), None)
        assert row is not None, f"{name} has no row in MANIFEST.md"
        assert any(licence in row for licence in ("MIT", "BSD", "Apache")), f"{name}: no permissive licence named"
