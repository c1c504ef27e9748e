"""The campaign model: samples, cells, shares, storage and processing settings, as pydantic models.

Loading and validating a campaign file is ``foundation.config``; this module knows no technique by name
(the loader passes the registered names in as validation context).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

Series = Literal["cumulative", "polished", "operando", "gitt"]
Branch = Literal["pristine", "charge", "discharge", "cycle"]


def _techniques(info: ValidationInfo) -> tuple[str, ...] | None:
    """The registered technique names, given by the loader (``foundation.config``) as validation context;
    None when a model is built without it (a copy, a test), which then skips the name check."""
    return (info.context or {}).get("techniques")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sample(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    series: Series
    branch: Branch
    soc_nominal_pct: float | None = Field(default=None, ge=0, le=100)
    cell: str | None = None
    description: str = ""


class Cell(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["coin", "swagelok", "pouch", "operando", "other"] = "coin"
    active_mass_mg: float = Field(gt=0)
    nominal_capacity_mah_g: float = Field(gt=0)
    lower_cutoff_v: float
    upper_cutoff_v: float
    electrode_area_cm2: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _cutoffs(self) -> "Cell":
        if self.lower_cutoff_v >= self.upper_cutoff_v:
            raise ValueError(f"lower_cutoff_v {self.lower_cutoff_v} must be below upper_cutoff_v {self.upper_cutoff_v}")
        return self


class SampleMapping(_Strict):
    """How a file on a share maps to its sample (or cell): a regex on the path, or a sidecar file."""

    path_pattern: str | None = Field(
        default=None, description="regex on the path relative to the share, with a named group "
                                  "(?P<sample>...) or (?P<cell>...)")
    sidecar: str | None = Field(default=None, description="name of a YAML/JSON file next to the data "
                                                          "file holding {sample: ID} or {cell: ID}")

    @field_validator("path_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            rx = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if not ({"sample", "cell"} & set(rx.groupindex)):
            raise ValueError("needs a named group (?P<sample>...) or (?P<cell>...)")
        return v

    @model_validator(mode="after")
    def _one(self) -> "SampleMapping":
        if not self.path_pattern and not self.sidecar:
            raise ValueError("give path_pattern or sidecar")
        return self


#: names no instrument writes: macOS AppleDouble and folder files, Windows thumbnails, Office lock files,
#: temporary files and editor backups. Matched on the file's name; ignored files are listed
#: (`socscope status --ignored`), never taken, counted or quarantined.
DEFAULT_IGNORES = ("._*", ".DS_Store", "Thumbs.db", "~$*", "*.tmp", "*~", "*.swp", "#*#")


class ReaderOverride(_Strict):
    pattern: str = Field(description="glob on the path relative to the share")
    reader: str = Field(description="reader name, e.g. 'bruker-nanoscope'")


class Share(_Strict):
    name: str
    url: str = Field(description="local path or fsspec URL (file://, sftp://, smb://, s3://...)")
    technique: str
    patterns: list[str] = Field(default_factory=lambda: ["**/*"], min_length=1)
    exclude: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list, description="more file-name globs to ignore, beside DEFAULT_IGNORES")
    drop_default_ignores: list[str] = Field(default_factory=list, description="default ignore globs that are data "
                                            "on this share (e.g. ['*.tmp'])")
    #: directories taken whole as one raw file (e.g. a Toyo TOSCAT channel folder), packed as a zip
    bundle_patterns: list[str] = Field(default_factory=list)
    mapping: SampleMapping
    settle_seconds: float = Field(
        default=60.0, ge=0, le=86400, description="a file is complete once its mtime is this old (its size and "
        "mtime unchanged that long): the safe default for instruments that write in place; 0 for a share whose "
        "writers copy to a temporary name and rename into place (complete as soon as it appears)")
    poll_seconds: float = Field(
        default=5.0, ge=1, le=3600, description="how often the share's watcher (flows/watch.py) lists it while a "
        "watcher run lasts: a new file is seen within this many seconds (each listing reads the share's folder tree)")
    done_marker_suffix: str | None = Field(default=None, description="e.g. '.done': a file counts as "
                                                                       "complete once FILE.done exists")
    max_file_mb: float | None = Field(default=None, gt=0, description="files (or bundles) larger than this are "
                                      "refused before they are read; default: the technique's own (Technique.max_file_mb)")
    readers: list[ReaderOverride] = Field(default_factory=list)
    reader_options: dict[str, Any] = Field(default_factory=dict)
    storage_options: dict[str, Any] = Field(default_factory=dict)
    rehash_every_days: float | None = Field(
        default=None, ge=0, description="a file whose path, size and mtime match its last sighting is not hashed "
        "again (a stat cache); with this set, every file of the share is hashed again once this many days have "
        "passed since the share's last full re-hash (0: on every run), so content changed behind an unchanged "
        "size and mtime is found")
    raw_store_mode: Literal["copy", "link", "reference"] = Field(
        default="copy", description="copy: a read-only copy in the raw store (shares people write to); link: a "
        "reflink or hard link where the filesystem allows, else a copy; reference: nothing copied (an immutable "
        "facility archive): path, sha256, size and mtime are kept, the file is re-hashed before it is read and "
        "by `socscope verify`, and a changed or vanished file is reported, never silently re-read")

    @field_validator("drop_default_ignores")
    @classmethod
    def _defaults_only(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(DEFAULT_IGNORES))
        if unknown:
            raise ValueError(f"{unknown} are not default ignore patterns; the defaults are {list(DEFAULT_IGNORES)}")
        return v

    @property
    def ignore_patterns(self) -> list[str]:
        return [p for p in DEFAULT_IGNORES if p not in self.drop_default_ignores] + list(self.ignore)

    @field_validator("technique")
    @classmethod
    def _known_technique(cls, v: str, info: ValidationInfo) -> str:
        known = _techniques(info)
        if known is not None and v not in known:
            raise ValueError(f"unknown technique; use one of {list(known)}")
        return v


class Storage(_Strict):
    warehouse: str = "var/warehouse"
    raw_store: str = "var/raw"
    storage_options: dict[str, Any] = Field(default_factory=dict)


class Execution(_Strict):
    task_runner: Literal["threads", "dask"] = "threads"
    max_workers: int = Field(default=2, ge=1)
    dask_address: str | None = None
    #: files of one technique per Prefect task (tasks/batches.py): a task's orchestration costs about what
    #: a small file's work does, so one per file doubled a run; a batch is still split so that every
    #: worker has one. Larger batches save a little more and show progress in coarser steps.
    batch_size: int = Field(default=16, ge=1, le=4096)


class FileLimits(_Strict):
    """Per-technique overrides of the per-file limits (unset: the campaign-wide value)."""

    max_seconds_per_file: float | None = Field(default=None, gt=0, le=86400)
    max_memory_mb_per_file: int | None = Field(default=None, ge=64, le=1 << 20)


@dataclass(frozen=True)
class ResolvedLimits:
    """The limits one file is processed under, with the config keys that set them (for reasons)."""

    seconds: float
    memory_mb: int
    seconds_key: str
    memory_key: str

    @property
    def id(self) -> str:
        """Recorded on every process event: a file stopped by a limit is tried again when it changes."""
        return f"{self.seconds:g}s/{self.memory_mb}MB"


class Processing(_Strict):
    """Every file is read in a worker process under these limits; a file beyond them is quarantined
    (the worker is stopped) and the rest of the batch goes on."""

    max_seconds_per_file: float = Field(default=120.0, gt=0, le=86400)
    #: memory a file's read and features may take on top of the worker's own (its address space)
    max_memory_mb_per_file: int = Field(default=4096, ge=64, le=1 << 20)
    #: technique -> overrides, e.g. {afm: {max_seconds_per_file: 600}}
    techniques: dict[str, FileLimits] = Field(default_factory=dict)

    @field_validator("techniques")
    @classmethod
    def _known(cls, v: dict[str, FileLimits], info: ValidationInfo) -> dict[str, FileLimits]:
        known = _techniques(info)
        unknown = sorted(set(v) - set(known)) if known is not None else []
        if unknown:
            raise ValueError(f"unknown technique(s) {unknown}; use one of {list(known)}")
        return v

    def limits_for(self, technique: str) -> ResolvedLimits:
        own = self.techniques.get(technique) or FileLimits()
        at = f"processing.techniques.{technique}."
        return ResolvedLimits(
            seconds=own.max_seconds_per_file or self.max_seconds_per_file,
            memory_mb=own.max_memory_mb_per_file or self.max_memory_mb_per_file,
            seconds_key=at + "max_seconds_per_file" if own.max_seconds_per_file else "processing.max_seconds_per_file",
            memory_key=at + "max_memory_mb_per_file" if own.max_memory_mb_per_file else "processing.max_memory_mb_per_file")


class Campaign(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    storage: Storage = Field(default_factory=Storage)
    execution: Execution = Field(default_factory=Execution)
    processing: Processing = Field(default_factory=Processing)
    samples: list[Sample] = Field(min_length=1)
    cells: list[Cell] = Field(default_factory=list)
    shares: list[Share] = Field(default_factory=list)
    #: sample id -> technique -> minimum number of files
    expected: dict[str, dict[str, int]] = Field(default_factory=dict)
    #: technique -> parameter-set file (path relative to the config) or name of a packaged set
    params: dict[str, str] = Field(default_factory=dict)
    #: free per-technique settings (e.g. sxpd wavelength per beamtime)
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)

    #: where the file was loaded from; relative paths in the config resolve against it
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> "Campaign":
        ids = [s.id for s in self.samples]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate sample ids {dupes}")
        cells = {c.id for c in self.cells}
        for i, s in enumerate(self.samples):
            if s.cell is not None and s.cell not in cells:
                raise ValueError(f"samples[{i}] ({s.id}): cell {s.cell!r} is not among cells {sorted(cells)}")
        for sid, techs in self.expected.items():
            if sid not in ids:
                raise ValueError(f"expected: sample {sid!r} is not among samples")
            known = _techniques(info)
            for t in techs:
                if known is not None and t not in known:
                    raise ValueError(f"expected.{sid}: unknown technique {t!r}; use one of {list(known)}")
        names = [s.name for s in self.shares]
        if len(set(names)) != len(names):
            raise ValueError(f"share names must be unique, got {names}")
        return self

    def sample(self, sample_id: str | None) -> Sample | None:
        return next((s for s in self.samples if s.id == sample_id), None)

    def cell(self, cell_id: str | None) -> Cell | None:
        return next((c for c in self.cells if c.id == cell_id), None)

    def resolve(self, path_or_url: str) -> str:
        """A relative local path resolves against the config file's folder; URLs stay as they are."""
        if "://" in path_or_url or Path(path_or_url).is_absolute():
            return path_or_url
        return str((self.base_dir / path_or_url).resolve())
