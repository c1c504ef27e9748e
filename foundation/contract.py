"""The one contract every reader and every technique plugin follows.

A *reader* turns one raw file into one or more canonical ``Measurement`` objects with explicit
units. It never stamps provenance: the framework (``foundation.registry``) does, so that no reader can
forget it. A *technique* bundles its readers, its table contracts, its parameter model and set,
its pure feature functions, its views, quality checks, marts features, dashboard pages and its demo
generator. The ``Technique`` object is the only place the platform learns about a technique:
adding one is a package with a ``TECHNIQUE`` and one entry point in the group ``socscope.techniques``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import (TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence,
                    runtime_checkable)

if TYPE_CHECKING:  # imported lazily: readers must stay importable without pandas/prefect cost
    import pandas as pd

    from foundation.campaign import Campaign, Sample
    from schemas.core import TableSpec


class UnreadableFile(Exception):
    """A raw file that cannot become a measurement. ``str(exc)`` is the quarantine reason.

    Say what is wrong and what to do next, e.g. "Bruker header announces 4 images of 131072
    bytes but the file ends at byte 43583: the file is truncated; re-export it from NanoScope".
    """


#: longest quarantine reason kept; a library message quoting a whole row or block is cut to this
MAX_REASON_CHARS = 300


def cut_reason(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """A library's message fit to go into a reason (libraries quote rows, pages or whole data blocks
    in their errors): ``safe_reason`` with the shorter limit of reader messages."""
    return safe_reason(str(text), limit)


def safe_reason(text: str, limit: int = 500) -> str:
    """``text`` as one printable line of at most ``limit`` characters, for reasons and log lines.

    A message built from an exception may carry a file's bytes (a decoded header, a whole line of
    binary): every character that is not printable (controls, newlines, surrogates of undecodable
    bytes, bidi overrides) becomes ``\\xNN``/``\\uNNNN``, and the text is cut with a note of its length.
    """
    text = str(text)
    pieces: list[str] = []
    used = 0
    for ch in text:  # escape only as much as can be shown: the text may be a megabyte
        pieces.append(ch if ch.isprintable() else ascii(ch)[1:-1])
        used += len(pieces[-1])
        if used > limit:
            break
    else:
        return "".join(pieces)
    note = f" … [cut: {len(text)} characters in all]"
    while pieces and used > limit - len(note):  # whole escapes only, never half of one
        used -= len(pieces.pop())
    return ("".join(pieces) + note)[:limit]


def quote_names(names: Any, limit: int = 12, width: int = 16) -> str:
    """Column names for a reason: the first ``limit``, each cut to ``width`` characters, so that a
    reason never carries long runs of the file (a damaged header can make data rows look like names)."""
    names = [str(n) for n in names]
    shown = [cut_reason(n, width) for n in names[:limit]]
    return f"{shown}{' …' if len(names) > limit else ''}"


def describe_bytes(head: bytes) -> str:
    """What the start of a file looks like, for a reason, without quoting more than a few bytes of it."""
    if not head:
        return "an empty file (0 bytes)"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark)"
    if b"\0" in head:
        return f"binary data starting with bytes {head[:8].hex(' ')}"
    if b"\n" not in head and len(head) >= 65536:
        return f"text whose first line is longer than {len(head)} bytes (no line end in the first {len(head)} bytes)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the end of the head
            return (f"text that is not UTF-8 (byte {head[exc.start]:#04x} at offset {exc.start}), starting with "
                    f"{cut_reason(head[:16].decode('latin-1'), 16)!r}")
        text = head[:exc.start].decode("utf-8")
    return f"text starting with {cut_reason(text.splitlines()[0] if text.strip() else text, 16)!r}"


class MissingInformation(UnreadableFile):
    """The file is fine but something it needs is missing (a wavelength, a lock-in sidecar...)."""


@dataclass(frozen=True)
class Provenance:
    """Stamped by the framework on every measurement; copied to every row it produces."""

    raw_sha256: str
    reader: str  # "name@version"
    original_name: str
    sample_id: str | None = None
    cell_id: str | None = None


@dataclass
class Measurement:
    """One canonical measurement, units explicit, vendor units already converted at the boundary.

    ``kind`` names the canonical payload layout a technique expects, e.g. ``afm_map`` (data: dict of
    2-D float arrays, one per channel, SI units in ``units``), ``cycler_record`` (data: DataFrame with
    time_s, current_a, voltage_v, ...), ``xrd_pattern`` (two_theta_deg, intensity_counts, sigma), ``xas_scan``.
    """

    technique: str
    kind: str
    data: Any
    units: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None
    #: distinguishes several measurements read from one file ("" for the only one)
    part: str = ""
    provenance: Provenance | None = None

    @property
    def measurement_id(self) -> str:
        if self.provenance is None:
            raise RuntimeError("measurement has no provenance yet: read it through foundation.registry")
        base = self.provenance.raw_sha256[:16]
        return f"{base}:{self.part}" if self.part else base


class Reader(ABC):
    """One file format. Subclasses set the class attributes and implement sniff and read."""

    name: ClassVar[str]
    version: ClassVar[str]
    techniques: ClassVar[tuple[str, ...]]
    suffixes: ClassVar[tuple[str, ...]]  # lower case, with the dot; a hint only, content decides
    # What the reader catalogue (`socscope readers`, docs/readers.md) tells users; each reader fills these.
    #: the formats it reads, as a user would name them ("BioLogic EC-Lab .mpr (binary), modules …")
    formats: ClassVar[str] = ""
    #: what in the head of a file it recognises ("starts with 'BIO-LOGIC MODULAR FILE'")
    detects_on: ClassVar[str] = ""
    #: share ``reader_options`` it understands: option name -> what it does
    options_doc: ClassVar[Mapping[str, str]] = {}
    #: the pip extra it needs beyond the core install (e.g. "gpl"), or "" when none
    extra: ClassVar[str] = ""

    @abstractmethod
    def sniff(self, head: bytes, name: str) -> bool:
        """True if the first bytes (up to 64 KiB) look like this format, whatever the suffix says."""

    @abstractmethod
    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement | list[Measurement]:
        """Parse the whole file. Raise UnreadableFile with a specific reason when it cannot be read.

        ``options`` come from the share's ``reader_options`` in the campaign config (column
        mappings, sidecar paths, configured wavelength...).
        """

    def claims_suffix(self, suffix: str) -> bool:
        """Whether a lower-case suffix (with the dot) is one of this reader's; breaks detection ties.
        Override for families of suffixes (Nanoscope's numbered .000-.999)."""
        return suffix in self.suffixes

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class ParamSet:
    """A named, versioned parameter set loaded from YAML; ``id`` goes on every row it produced."""

    name: str
    version: int
    values: dict[str, Any]
    digest: str

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}#{self.digest}"


@dataclass
class ProcessContext:
    """What a per-measurement feature function may know besides the measurement itself."""

    campaign: "Campaign"
    sample: "Sample | None"
    params: ParamSet
    options: Mapping[str, Any]
    #: read-only SQL on the committed warehouse (e.g. calibration rows, cycler records):
    #: ``query(sql, params=None)``, values bound as ``?`` parameters, never formatted into the SQL;
    #: the pipeline answers each distinct question once per committed version (``Warehouse.lookup``)
    query: Callable[..., "pd.DataFrame"]


@dataclass
class FinalizeContext:
    """For cross-file work of one technique after all its files are processed and committed."""

    campaign: "Campaign"
    params: ParamSet
    query: Callable[..., "pd.DataFrame"]  # query(sql, params=None), as in ProcessContext


@dataclass
class DemoRequest:
    """Where a technique's demo generator writes its vendor files and its ground truth."""

    share_root: Path  # write files under share_root / <technique share name> / <sample or cell id> / ...
    truth_root: Path  # ground truth for scoring, never on the share
    profile: str  # "small" (CI) or "full"
    seed: int
    campaign: "Campaign"


TableFrames = dict[str, "pd.DataFrame"]

#: what ``finalize`` returns: one frame per table, or (table, frame) pieces as it goes — a finalize whose
#: output grows with the campaign (a pixel table per pair of maps) yields a piece per unit of work, and the
#: pipeline validates and writes each piece before asking for the next, so the whole never sits in memory
FinalizeFrames = TableFrames | Iterable[tuple[str, "pd.DataFrame"]]


def table_pieces(out: FinalizeFrames | None) -> Iterator[tuple[str, "pd.DataFrame"]]:
    """(table, frame) pieces of a finalize's output, whichever of the two forms it returned."""
    if out is None:
        return iter(())
    return iter(out.items()) if isinstance(out, Mapping) else iter(out)


def collect_pieces(out: FinalizeFrames | None) -> TableFrames:
    """A finalize's output as one frame per table (tests and small outputs; the pipeline writes the pieces)."""
    import pandas as pd

    frames: dict[str, list["pd.DataFrame"]] = {}
    for table, df in table_pieces(out):
        frames.setdefault(table, []).append(df)
    return {t: dfs[0] if len(dfs) == 1 else pd.concat(dfs, ignore_index=True) for t, dfs in frames.items()}


@runtime_checkable
class PageKit(Protocol):
    """What the dashboard hands a technique's page: the page draws with these and imports nothing of
    the app (``socscope``). Third-party plotting libraries (streamlit, altair, pandas) it may import
    itself; everything that ties a page to this dashboard (the snapshot its queries read, the footer
    the browser test reads, the colours shared across pages) comes through the kit."""

    @property
    def st(self) -> Any:
        """The ``streamlit`` module, for titles, columns, widgets and tables."""

    @property
    def SOC_SCALE(self) -> Any:
        """Altair colour scale of SOC (%) shared by every page: viridis over 0–100."""

    @property
    def BRANCH_SHAPES(self) -> Any:
        """Altair shape scale of the cycling branch (pristine, charge, discharge, cycle, rest)."""

    @property
    def BRANCH_COLORS(self) -> Any:
        """Altair colour scale of the cycling branch, the same colours on every page."""

    @property
    def SERIES_DASH(self) -> Any:
        """Altair stroke-dash scale of the sample series (cumulative, polished, operando, gitt)."""

    def q(self, sql: str, params: Sequence[Any] = ()) -> "pd.DataFrame":
        """Rows of read-only ``sql`` on the warehouse snapshot of this page run (one page, one
        consistent view); values bound as ``?`` parameters, never formatted into the SQL. Cached per
        snapshot; the frame is the caller's own copy."""

    def chart(self, chart: Any, **kw: Any) -> Any:
        """Draw an Altair chart at the page's width; keyword arguments go to ``st.altair_chart``."""

    def main_plot(self, df: "pd.DataFrame", *cols: str) -> None:
        """Record what the page's main plot shows (its rows, a digest of ``cols`` or of all columns)
        for the footer the browser test reads; call it once per page, after drawing that plot."""

    def empty(self, msg: str) -> None:
        """Say that there is nothing to show (``msg`` says why and what to do) and record an empty
        main plot; a page returns after it."""

    def table(self, df: "pd.DataFrame", name: str, *, lineage: str | None = None, key: str | None = None,
              **kw: Any) -> None:
        """Show ``df`` with CSV and Parquet download buttons under it (files named ``name``). With
        ``lineage`` (the warehouse table the rows come from) and a ``measurement_id`` or ``profile_key``
        column, every row links to its lineage page (raw file, reader, parameters, flow run)."""


@dataclass(frozen=True)
class Page:
    """A dashboard page of a technique. ``render(kit)`` draws it with the kit the dashboard hands in
    (``PageKit``: queries on the read-only snapshot, charts, the main-plot record), so that a
    technique never imports the app that shows it. ``slug`` is the page's URL path, ``title`` its
    name in the navigation."""

    slug: str
    title: str
    render: Callable[[PageKit], None]


@dataclass
class Technique:
    """A technique plugin. ``process`` and ``finalize`` are pure: frames in, frames out.

    ``process`` gets one measurement and returns rows for its tables, without lineage or key
    columns (the framework adds campaign, sample_id, technique, mode, measurement_id and lineage
    unless the frame already has them). ``finalize`` runs once per technique after every file of
    the run is committed, for cross-file tables (SOC of samples, co-registration, calibration
    links); its output replaces the technique's previous finalize output for the same parameters.
    An output that grows with the campaign is yielded in (table, frame) pieces (``FinalizeFrames``):
    each is written before the next is computed, so memory holds one piece, not the campaign.
    """

    name: str
    readers: list[Reader]
    tables: list["TableSpec"]
    default_params: Path
    process: Callable[[Measurement, ProcessContext], TableFrames]
    finalize: Callable[[FinalizeContext], FinalizeFrames] | None = None
    demo: Callable[[DemoRequest], None] | None = None
    #: techniques whose files and finalize must be committed before any file of this one runs (its
    #: ``process`` looks up their tables through ``ProcessContext.query``)
    after: tuple[str, ...] = ()
    #: techniques whose files and finalize must be committed before this one's ``finalize`` runs (e.g.
    #: sxpd's SOC alignment reads ``echem_series``); its files run side by side with theirs
    finalize_after: tuple[str, ...] = ()
    #: SQL files of views over this technique's tables; a view that fails to build fails the catalog
    views: list[Path] = field(default_factory=list)
    #: measurement kinds that ``process`` accepts; any other kind is quarantined with that reason
    accepts: tuple[str, ...] = ()
    #: pydantic model of the parameter set (``foundation.parameters.ParameterModel``); None: unchecked
    parameters: type | None = None
    #: quality checks, name -> SQL over this technique's current tables yielding
    #: (subject, passed, value, unit, detail); run after every processing run into the ``quality`` table
    checks: Mapping[str, str] = field(default_factory=dict)
    #: warnings, code -> SQL over this technique's current views yielding (sample_id, raw_sha256, message):
    #: a value that is computed but should not be trusted as is (a SOC label the cycler contradicts, ESM
    #: without a Q source); collected after every run into the ``warnings`` table (warehouse/warnings.py)
    warnings: Mapping[str, str] = field(default_factory=dict)
    #: YAML file of the columns that are features in the SOC profile (format: warehouse/marts/features/)
    features: Path | None = None
    #: dashboard pages, shown after the campaign-wide ones
    pages: list[Page] = field(default_factory=list)
    #: its files record a whole cell (cycler records), not one sample: in the campaign's expected-vs-received
    #: counts they count for every sample cut from that cell
    cell_files: bool = False
    #: ``process_first(rel_path, share reader_options)``: files other files of the technique need while they
    #: are processed (a scan log giving patterns their times); processed and committed before the rest
    process_first: Callable[[str, Mapping[str, Any]], bool] | None = None
    #: largest file (MB) a share of this technique takes before refusing it unread (``Share.max_file_mb``
    #: overrides); well above the biggest real export, so that only a runaway or misplaced file is refused
    max_file_mb: float = 2048.0
    #: checks the campaign's ``settings.<technique>`` at load (settings dict, campaign folder); raises
    #: ValueError naming the defect. None: the settings are free
    check_settings: Callable[[dict[str, Any], Path], None] | None = None
    #: modules its ``process`` and ``finalize`` import when they first run (the plugin's own work modules,
    #: scipy, scikit-image...): the file workers' fork server imports them once for all its workers
    #: (tasks/forkserver.py) rather than each worker on its first file. Leave out a library only some
    #: files need (one vendor format's reader): a worker imports it when such a file comes
    worker_imports: tuple[str, ...] = ()

    @property
    def waits_for(self) -> tuple[str, ...]:
        """Every technique this one comes after, for its files or its finalize: what orders techniques,
        and what its finalize's inputs are."""
        return (*self.after, *(t for t in self.finalize_after if t not in self.after))
