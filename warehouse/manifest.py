"""The manifest: which data files, of which tables and units, make up one committed warehouse version."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FileEntry:
    path: str  # relative to the warehouse root
    unit: str
    rows: int
    #: digest of the table contract the file was written with; views union by name only when they differ
    schema: str = ""
    #: sha256 of the file's bytes, so that `socscope verify` finds a file changed behind our back
    #: ("" in manifests written before it was recorded)
    sha256: str = ""
    #: bytes of the file, so that a process reading it asks the store nothing about it first (0 in
    #: manifests written before it was recorded: asked once per process, warehouse/written_once.py)
    size: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "unit": self.unit, "rows": self.rows, "schema": self.schema}
        if self.sha256:
            out["sha256"] = self.sha256
        if self.size:
            out["size"] = self.size
        return out


@dataclass
class Manifest:
    version: int = 0
    tables: dict[str, list[FileEntry]] = field(default_factory=dict)
    created_at: str = ""
    flow_run_id: str | None = None

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        raw = json.loads(text)
        return cls(version=raw["version"],
                   tables={t: [FileEntry(**e) for e in es] for t, es in raw["tables"].items()},
                   created_at=raw.get("created_at", ""), flow_run_id=raw.get("flow_run_id"))

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "created_at": self.created_at, "flow_run_id": self.flow_run_id,
                           "tables": {t: [e.as_dict() for e in es] for t, es in sorted(self.tables.items())}},
                          indent=1)
