"""The fast paths of the shared text loading and the canonical frame give what the plain ways give."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from foundation.contract import UnreadableFile
from tasks.echem import canonical as cn
from tasks.echem import tabular as tb


def _plain(data: bytes, skip: int, delimiter: str, encoding: str) -> pa.Table:
    return pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(skip_rows=skip, encoding=encoding),
                          parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=True))


@pytest.mark.parametrize("eol", [b"\r\n", b"\n", b"\r"])
@pytest.mark.parametrize("body_text", ["plain", "latin"])
def test_read_delimited_matches_pyarrow_transcoding(tmp_path, eol, body_text):
    header = ["Capteur: 25 \xb0C", "", "Op\xe9rateur ; \xe9\xe9"]  # non-ASCII latin-1 header, an empty line
    word = "\xe9tat" if body_text == "latin" else "ok"
    rows = [f"{k};{0.5 * k};{word if k % 3 else 'ok'}" for k in range(50)]
    text = eol.decode().join(header + ["time/s;Ewe/V;state"] + rows) + eol.decode()
    data = text.encode("latin-1")
    path = tmp_path / "x.mpt"
    path.write_bytes(data)
    ours = tb.read_delimited(path, skip_rows=len(header), delimiter=";", encoding="latin-1", label="x",
                             include=["time/s", "Ewe/V", "state"], strings=["state"])
    plain = _plain(data, len(header), ";", "latin-1")
    for name in ("time/s", "Ewe/V", "state"):
        assert ours.arrow(name).to_pylist() == plain.column(name).to_pylist()


def test_read_delimited_utf8_bom_and_bytesio():
    data = "\ufeffa,b\n1,2.5\n3,4.5\n".encode("utf-8")
    cols = tb.read_delimited(io.BytesIO(data), skip_rows=0, delimiter=",", encoding="utf-8-sig", label="x")
    assert cols.columns == ["a", "b"]
    assert cols.array("b").tolist() == [2.5, 4.5]


def test_read_delimited_types_changing_between_blocks(tmp_path):
    # ints for the first megabyte, then a float: pyarrow promotes across blocks (recent versions) or the
    # single-block retry of read_delimited reads it; either way the column is float64 with every row
    n = (tb.BLOCK // 8) + 5000
    values = [str(k) for k in range(n)] + ["1.5"]
    path = tmp_path / "big.csv"
    path.write_text("x,y\n" + "\n".join(f"{v},{k}" for k, v in enumerate(values)) + "\n")
    cols = tb.read_delimited(path, skip_rows=0, delimiter=",", label="x")
    x = cols.array("x")
    assert len(x) == n + 1 and x[-1] == 1.5 and x[10] == 10.0


def test_read_delimited_ragged_rows_and_short_file(tmp_path):
    path = tmp_path / "ragged.txt"
    path.write_bytes(b"h\nRec\tVolts\t\n1\t3.5\t\n2\t3.6\n")
    names = tb.column_names("Rec\tVolts\t", "1\t3.5\t", "\t")
    cols = tb.read_delimited(path, skip_rows=2, delimiter="\t", encoding="latin-1", label="x", names=names)
    assert cols.array("Volts").tolist() == [3.5, 3.6]
    with pytest.raises(UnreadableFile, match="cannot be parsed"):
        tb.read_delimited(path, skip_rows=10, delimiter="\t", encoding="latin-1", label="x")


def test_null_typed_column_is_nan(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("a,Step_Index\n1,\n2,\n")
    cols = tb.read_delimited(path, skip_rows=0, delimiter=",", label="x")
    assert np.isnan(cn.numeric(cols, "Step_Index")).all()


@pytest.mark.parametrize("order", ["mdy", "dmy"])
@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
@pytest.mark.parametrize("digits", [0, 3, 6])
def test_fixed_datetime_numpy_path_matches_arrow_path(order, tz, digits):
    rng = np.random.default_rng(3)
    stamps = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 7 * 365 * 86400 * 10**6, 3000), unit="us")
    fmt = "%m/%d/%Y %H:%M:%S" if order == "mdy" else "%d/%m/%Y %H:%M:%S"
    text = [s.strftime(fmt) + (f".{s.microsecond:06d}"[:digits + 1] if digits else "") for s in stamps]
    col = pa.chunked_array([pa.array(text[:1000]), pa.array(text[1000:])])
    assert tb._fixed_width_us(col, order) is not None
    pd.testing.assert_series_equal(tb.fixed_datetime_utc(col, order, tz), tb._fixed_datetime_arrow(col, order, tz))


@pytest.mark.parametrize("bad", ["13/01/2020 10:00:00", "02/30/2020 10:00:00", " 01/01/2020 10:00:00",
                                 "01/01/2020 24:00:00", "01-01-2020 10:00:00"])
def test_fixed_datetime_numpy_path_declines_what_it_cannot_vouch_for(bad):
    assert tb._fixed_width_us(pa.chunked_array([pa.array([bad])]), "mdy") is None


def test_relative_time_and_charge_match_the_plain_formulas():
    rng = np.random.default_rng(5)
    t = np.cumsum(rng.random(1000)) + 1e5
    i = rng.normal(size=1000)
    rel, jump = cn.relative_time(t)
    assert not jump.any()
    np.testing.assert_allclose(rel, t - t[0], rtol=0, atol=1e-9)
    expected = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(rel) / 3600.0)])
    np.testing.assert_array_equal(cn.integrate_charge_ah(rel, i), expected)
    back = t.copy()
    back[500:] -= 50.0  # a clock resync
    rel, jump = cn.relative_time(back)
    assert jump.sum() == 1 and jump[500] and np.all(np.diff(rel) >= 0)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "shift_jis"])
def test_read_delimited_other_encodings(tmp_path, encoding):
    text = "header line \u00e9\r\n\r\ntime,volt,label\r\n1,3.5,a\r\n2,3.6,b\r\n"
    if encoding == "shift_jis":
        text = text.replace("\u00e9", "\u96fb")
    path = tmp_path / "enc.csv"
    path.write_bytes(text.encode(encoding))
    cols = tb.read_delimited(path, skip_rows=2, delimiter=",", encoding=encoding, label="x", strings=["label"])
    assert cols.array("volt").tolist() == [3.5, 3.6]
    assert cols.arrow("label").to_pylist() == ["a", "b"]


@pytest.mark.parametrize("values", [["03/31/2019 02:30:00"], ["10/27/2019 02:30:00", "10/27/2019 03:30:00"],
                                    ["01/02/2020 1:02:03 PM"], ["01/02/2020 10:00:00.123"], ["garbage"]])
@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_parse_datetime_of_a_few_values_matches_the_vectorised_path(values, tz):
    formats = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p")
    s = pd.Series(values)
    text = s.astype(str).str.strip()
    expected = None
    for fmt in formats:
        out = pd.to_datetime(text, format=fmt, errors="coerce")
        if out.notna().mean() > 0.95:
            expected = cn.localize_utc(out, tz)
            break
    if expected is None:
        expected = cn.localize_utc(pd.to_datetime(text, errors="coerce"), tz)
    got = cn.parse_datetime(s, formats, tz)
    assert [None if pd.isna(x) else x for x in got] == [None if pd.isna(x) else x for x in expected]


def test_strip_trailing_matches_the_regex():
    import random
    import re

    rng = random.Random(1)
    for _ in range(500):
        data = bytes(rng.choice(b"\t\r\na,") for _ in range(rng.randint(0, 30)))
        for d in (b"\t", b","):
            assert tb.strip_trailing(data, d) == re.sub(rb"[" + re.escape(d) + rb"]+(\r?\n)", rb"\1", data)
