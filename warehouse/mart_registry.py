"""The marts the `marts` flow builds, in order (a mart may read the ones before it)."""
from __future__ import annotations

MARTS: list = []
