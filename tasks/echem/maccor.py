"""Maccor text exports: the classic tab export (``Today's Date`` line), the older variant with
``0d 00:00:00.0000`` test times, the MIMS export with a key/value header (non-UTF-8 bytes, test time
in minutes) and the comma CSV variant.

The record's wall clock (``DPt Time``) is either a full date-time or, in some exports, only the time
of day: the date then comes from the header (``Date of Test:``), never from the machine reading the
file, and rolls over at midnight. Two other Maccor files are recognised in order to refuse them by
name: the AC impedance (EIS) export and the XML test procedure.
"""
from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from foundation.contract import Measurement, Reader, UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem import time_columns as tc
from tasks.echem.tabular import Columns, column_names, read_delimited
from tasks.echem.vendor import (
    find_quantity,
    require,
    split_unit,
    timezone_of,
    unit_factor,
)

DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%d-%b-%y %I:%M:%S %p", "%m/%d/%Y %H:%M")
#: the header's test date, alone or with its time ("04/01/2016", "11 December 2020, 12:22:12 PM")
HEADER_DATE_FORMATS = ("%m/%d/%Y", "%d %B %Y", "%d-%b-%y", "%m/%d/%y")
HEADER_DATE = re.compile(r"(?:Date of Test:|Started)[\s,]*([^\t,]+(?:, [^\t]+)?)")
TIME_OF_DAY = re.compile(r"^\s*\d{1,2}:\d\d:\d\d(\.\d*)?\s*$")
REC_NAMES = ("Rec#", "Rec")
VOLT_NAMES = ("Volts", "Voltage")
CUR_NAMES = ("Amps", "Current")
TIME_NAMES = ("Test", "Test Time", "TestTime")
CAP_NAMES = ("Amp-hr", "Cap.", "Capacity")
#: base names (unit suffix removed, lower case) of the columns the record needs
WANTED = {n.lower() for n in (*VOLT_NAMES, *CUR_NAMES, *TIME_NAMES, *CAP_NAMES, "State", "Md", "DPt Time",
                              "Step", "Cyc#", "Cycle C", "Cycle P")}
MARKERS = ("Today's Date", "Maccor", "DPt Time", "DPT Time")
EIS_MARK = "AC Impedance"
PROCEDURE_MARK = ("Maccor Procedure File", "<MaccorTestProcedure")


def _split(line: str) -> list[str]:
    sep = "\t" if line.count("\t") >= line.count(",") else ","
    return [t.strip() for t in line.split(sep)]


def find_header(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        tokens = _split(line)
        if any(t in REC_NAMES for t in tokens[:2]) and any(split_unit(t)[0] in VOLT_NAMES for t in tokens):
            return i
    return None


def header_test_date(lines: list[str]) -> datetime | None:
    """The test's start date from the header lines ('Date of Test:' or the MIMS 'Started' line)."""
    for line in lines:
        m = HEADER_DATE.search(line)
        if not m:
            continue
        text = m.group(1).strip()
        for fmt in HEADER_DATE_FORMATS:
            for candidate in (text, text.split(",")[0].strip(), text.split(" ")[0]):
                try:
                    return datetime.strptime(candidate, fmt)
                except ValueError:
                    continue
    return None


def refuse_other_maccor_files(head: str, label: str) -> None:
    first = head[:400]
    if first.startswith("MACCOR") and EIS_MARK in first.split("\n", 1)[0]:
        raise UnreadableFile(f"{label} is a Maccor AC impedance (EIS) export, not a cycling record: it holds a "
                             "frequency sweep (Freq(Hz), Z', Z'') and no time/current/voltage records; "
                             "ingest it as impedance data, or the test's cycling export for the record")
    if any(m in first for m in PROCEDURE_MARK):
        raise UnreadableFile(f"{label} is a Maccor test procedure (XML step program, root element MaccorTestProcedure), "
                             "not a data record; ingest the data file the test wrote (e.g. name.001)")


class MaccorReader(Reader):
    name = "maccor-text"
    version = "4"
    techniques = ("echem",)
    suffixes = (".txt", ".csv", ".034", ".052", ".041", ".001")
    formats = ("Maccor text exports: classic tab export (Today's Date / Date of Test header), older 0d 00:00:00 "
               "test times, MIMS key/value export, comma CSV; recognises and refuses Maccor EIS exports and "
               "XML test procedures")
    detects_on = ("a column row with Rec#/Rec and Volts/Voltage within the first 40 lines plus a Maccor marker; "
                  "'MACCOR, INC. AC Impedance' or a Maccor Procedure File XML (refused by name)")
    options_doc = {"timezone": "IANA zone of the tester's wall clock (naive DPt Time); default UTC, recorded in meta",
                   tc.OPTION: "Test Time: " + tc.OPTION_DOC}
    extra = ""

    def sniff(self, head: bytes, name: str) -> bool:
        lines = cn.text_lines(head, 40)
        text = "\n".join(lines)
        eis = bool(lines) and lines[0].startswith("MACCOR") and EIS_MARK in lines[0]
        if eis or any(m in text[:400] for m in PROCEDURE_MARK):
            return True  # a Maccor file of another kind: read() refuses it by name
        return find_header(lines) is not None and any(m in text for m in MARKERS)

    def read(self, path: Path, options: Mapping[str, Any]) -> Measurement:
        import pyarrow.compute as pc  # at use: ~0.05 s that loading the plugin (a no-op re-run) does not pay
        label = f"Maccor export {path.name}"
        with open(path, "rb") as fh:
            lines = cn.text_lines(fh.read(65536), 60)
        refuse_other_maccor_files("\n".join(lines), label)
        h = find_header(lines)
        if h is None:
            raise UnreadableFile(f"{label}: no column row with Rec and Volts in the first lines; not a Maccor export")
        delimiter = "\t" if lines[h].count("\t") >= lines[h].count(",") else ","
        first_data = next((ln for ln in lines[h + 1:] if ln.strip()), None)
        if first_data is None:
            raise UnreadableFile(f"{label}: the column row is not followed by any record")
        names = column_names(lines[h], first_data, delimiter)
        if not lines[h].isascii():  # Maccor writes its column names in ASCII: a changed byte would rename one
            raise UnreadableFile(f"{label}: the column row (line {h + 1}) holds a character no Maccor export writes; "
                                 "the header is damaged — export the file again")
        wanted = [n for n in names if split_unit(n)[0].lower() in WANTED]
        text_cols = {"State", "Md", "DPt Time", "DPT Time", "TestTime", "Test Time"}
        frame = read_delimited(path, skip_rows=h + 1, delimiter=delimiter, encoding="latin-1", label=label,
                               names=names, include=wanted, strings=[n for n in wanted if n in text_cols])
        cols = frame.columns
        volt, cur = find_quantity(cols, *VOLT_NAMES), find_quantity(cols, *CUR_NAMES)
        dpt, tcol = cn.pick(cols, "DPt Time", "DPT Time"), find_quantity(cols, *TIME_NAMES)
        require({"voltage (Volts)": volt, "current (Amps)": cur,
                 "time (Test Time or DPt Time)": tcol or dpt}, cols, label)
        tz, meta = timezone_of(options)
        meta["header_line"] = h + 1
        current = cn.numeric(frame, cur, _divisor(cur, "current", "A", label))
        state_col = cn.pick(cols, "State", "Md")
        if state_col is not None:
            current = cn.sign_from_state(current, np.asarray(pc.utf8_trim_whitespace(frame.arrow(state_col))))
        clock = WallClock(frame, dpt, header_test_date(lines[:h]), tz, meta, label)
        t = test_time_s(frame, tcol, clock, label, meta, tc.named_form(options, label))
        stamps, start = None, None
        if t is not None:
            start = clock.start(t)
            clock.flag_drift(t)
        elif clock.time_only and clock.test_date is None:  # a relative clock only, from the time of day
            t = clock.rolled_time_of_day()
        else:
            stamps = clock.stamps()
        cap_col = find_quantity(cols, *CAP_NAMES)
        return cn.build(reader_label=label, time_s=t, timestamps=stamps, start=start, current_a=current,
                        voltage_v=cn.numeric(frame, volt, _divisor(volt, "voltage", "V", label)),
                        step=cn.numeric(frame, cn.pick(cols, "Step")),
                        cycle=cn.numeric(frame, cn.pick(cols, "Cyc#", "Cycle C", "Cycle P")),
                        vendor_capacity_ah=cn.numeric(frame, cap_col, _divisor(cap_col, "capacity", "Ah", label)),
                        meta=meta)


def _divisor(column: str | None, quantity: str, default: str, label: str) -> float | None:
    """What to divide the column by for SI (None when it is in SI already): from its unit suffix."""
    if column is None:
        return None
    factor = unit_factor(column, quantity, label, default=default)
    return None if factor == 1.0 else 1.0 / factor


def test_time_s(frame: Columns, tcol: str | None, clock: "WallClock", label: str, meta: dict,
                form: str | None) -> np.ndarray | None:
    """Test time in seconds: by the unit in the column name ('Test (Min)'), from '0d 00:00:00' text,
    by the share's time_form, or (MIMS 'TestTime', no unit) calibrated against the wall clock's span."""
    if tcol is None:
        return None
    raw = frame.arrow(tcol)
    unit = split_unit(tcol)[1] is not None
    scale = unit_factor(tcol, "time", label) if unit else 1.0
    t = tc.elapsed_seconds(raw, column=tcol, label=label, form=form, scale=scale)
    if unit or form is not None or tc.detect_form(raw, tcol, label) != "seconds":
        return t
    span = clock.span_s()
    dt = t[-1] - t[0]
    if span is not None and dt > 0 and span > 0:
        # MIMS exports may write TestTime in minutes or hours: calibrate on the wall clock
        factor = min((1.0, 60.0, 3600.0), key=lambda f: abs(np.log(f * dt / span)))
        meta["test_time_unit_s"] = factor
        return t * factor
    meta["test_time_unit_s"] = "assumed 1 (seconds): no wall clock to calibrate TestTime against"
    return t


class WallClock:
    """The DPt Time column as absolute time: full date-times as they are; a time of day alone dated
    by the header's test date (rolling over at midnight); neither -> no absolute time, flagged."""

    def __init__(self, frame: Columns, column: str | None, test_date: datetime | None, tz: str | None, meta: dict,
                 label: str = "Maccor export"):
        self.frame, self.column, self.test_date, self.tz, self.meta = frame, column, test_date, tz, meta
        self.label = label
        first = str(frame.arrow(column)[0]) if column is not None and len(frame) else ""
        self.time_only = bool(TIME_OF_DAY.match(first))
        if column is None:
            meta["absolute_time"] = "null: the export has no DPt Time column"
        elif self.time_only:
            if test_date is None:
                meta["absolute_time"] = ("null: DPt Time holds only the time of day and the header gives no "
                                         "test date")
            else:
                meta["absolute_time"] = f"date from the header's test date {test_date:%Y-%m-%d}, time from DPt Time"

    def _time_of_day(self, rows: list[int] | None = None) -> np.ndarray:
        col = self.frame.arrow(self.column)
        return tc.parse_duration(col if rows is None else col.take(rows))

    def stamps(self) -> pd.Series | None:
        """Every record's wall clock (only needed when there is no test-time column)."""
        if self.column is None:
            return None
        if not self.time_only:
            return tc.vendor_clock(self.frame.arrow(self.column), column=self.column, label=self.label,
                                   formats=DATE_FORMATS, tz=self.tz)
        seconds = self.rolled_time_of_day()
        base = pd.Timestamp(self.test_date)
        return cn.localize_utc(pd.Series(base + pd.to_timedelta(seconds, unit="s")), self.tz)

    def rolled_time_of_day(self) -> np.ndarray:
        """Seconds since midnight of the first record's day: a drop of the time of day by more than
        half a day is midnight (the next day); a small backward step is a clock resync, kept."""
        tod = self._time_of_day()
        return tod + 86400.0 * np.cumsum(np.r_[0, np.diff(tod) < -43200])

    @functools.cached_property
    def _end_stamps(self) -> pd.Series | None:
        if self.column is None or self.time_only:
            return None
        n = len(self.frame)
        return tc.vendor_clock(self.frame.arrow(self.column).take([0, n - 1]), column=self.column,
                               label=self.label, formats=DATE_FORMATS, tz=self.tz)

    def _ends(self) -> pd.Series | None:
        return self._end_stamps

    def span_s(self) -> float | None:
        """Seconds from the first to the last record by the wall clock (for the test-time unit)."""
        if self.column is None:
            return None
        if self.time_only:
            rolled = self.rolled_time_of_day()
            return float(rolled[-1] - rolled[0])
        ends = self._ends()
        return None if ends.isna().any() else (ends.iloc[-1] - ends.iloc[0]).total_seconds()

    def flag_drift(self, t: np.ndarray) -> None:
        """Absolute times are start + test time; a paused or resumed test stops the test time while the
        wall clock runs on. Say so (with the offset at the last record) rather than hide it."""
        span = None if self.time_only else self.span_s()
        if span is None or not np.isfinite(t[[0, -1]]).all():
            return
        drift = span - float(t[-1] - t[0])
        if abs(drift) > 2.0:  # DPt Time has whole seconds
            self.meta["wall_clock_ahead_of_test_time_s"] = round(drift, 3)
            self.meta["absolute_time"] = (f"start + test time; the tester's wall clock ran {drift:.0f} s further "
                                          "by the last record (a paused or resumed test)")

    def start(self, t: np.ndarray) -> pd.Timestamp | None:
        """Absolute time of the first record. For a time of day alone: the test began on the header's
        date, so the first record is on the day that puts (its clock - its test time) on that date
        (a truncated export's first record can be days after the test date)."""
        if not self.time_only:
            ends = self._ends()
            return None if ends is None or pd.isna(ends.iloc[0]) else ends.iloc[0]
        if self.test_date is None:
            return None
        tod0 = float(self._time_of_day([0])[0])
        if not math.isfinite(tod0):
            self.meta["absolute_time"] = "null: the first DPt Time is not a time of day"
            return None
        day = math.ceil((float(t[0]) - tod0) / 86400.0)
        local = pd.Timestamp(self.test_date) + pd.Timedelta(days=day, seconds=tod0)
        return cn.start_time(local, self.tz)
