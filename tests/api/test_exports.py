"""Exports in the field's formats, each read back by a reader that is not ours: numpy for .xye, an XDI
parser written here from the XDI 1.0 specification (proven first on a real XDI file that Larch wrote at
APS 13-ID), the BDF column list of the Battery Data Alliance for BDF, gwyfile for .gwy, xarray for NetCDF.

No XDI library is installable here (xraydb 4.5 has no read_xdi; xraylarch pulls silx, pyFAI and a C
library), hence the spec-built parser below.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import socscope

REAL = Path(__file__).resolve().parents[2] / "tests" / "data" / "real"
XYE = REAL / "sxpd" / "i11_si_standard_1410696" / "1410696_summed_mythen3.xye"
NI_XDI = REAL / "xas" / "NiK_references" / "ni_metal_rt.xdi"
SXR = REAL / "xas" / "soft_OK_edge_ausync" / "sxr129598.asc"
ARBIN = REAL / "echem" / "arbin" / "sample_data_arbin.csv"
NANOSCOPE = REAL / "afm" / "di-3.di"


# ------------------------------------------------------------------------------------------- xye
def test_xye_reads_back_with_numpy_as_the_source_pattern(tmp_path):
    out = socscope.read(XYE).to_xye(tmp_path / "si.xye")
    assert np.allclose(np.loadtxt(out), np.loadtxt(XYE), rtol=1e-9, atol=0)
    with pytest.raises(TypeError, match="diffraction patterns"):
        socscope.read(ARBIN).to_xye(tmp_path / "no.xye")


# ------------------------------------------------------------------------------------------- XDI
def parse_xdi(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    """(fields, column labels, data) of an XDI 1.0 file, per the specification: version line first; then
    ``Namespace.tag: value`` fields (case-insensitive names, last one wins); ``# ///`` ends the fields,
    ``#`` + three or more dashes ends the header; the last header line holds the labels. Raises on any
    breach of a "must"."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert re.match(r"^#\s*XDI/\d+\.\d+(\.\d+)?(\s+\S+)*\s*$", lines[0]), f"bad version line {lines[0]!r}"
    fields: dict[str, str] = {}
    in_fields, end = True, None
    for i, line in enumerate(lines[1:], start=1):
        assert line.startswith("#"), f"header line {i} does not start with '#': {line!r}"
        body = line[1:].strip()
        if re.fullmatch(r"-{3,}", body):
            end = i
            break
        if re.fullmatch(r"/{3,}", body):
            in_fields = False
        elif in_fields:
            m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z0-9_-]+):\s*(.*)", body)
            assert m, f"line {i} is neither a field nor a separator: {line!r}"
            fields[f"{m.group(1)}.{m.group(2)}".lower()] = m.group(3).strip()
    assert end is not None, "no header-end line"
    labels = lines[end + 1][1:].split()
    data = np.loadtxt([ln for ln in lines[end + 2:] if ln.strip()], ndmin=2)
    assert data.shape[1] == len(labels), "as many labels as columns"
    for k in range(1, len(labels) + 1):
        if f"column.{k}" in fields:
            assert fields[f"column.{k}"].split()[0].lower() == labels[k - 1].lower()
    for required in ("element.symbol", "element.edge", "column.1"):
        assert required in fields, f"required field {required} is missing"
    return fields, labels, data


def test_the_spec_parser_reads_a_real_xdi_file():
    fields, labels, data = parse_xdi(NI_XDI)
    assert fields["element.symbol"] == "Ni" and fields["element.edge"] == "K" and labels[0] == "energy"
    assert data.shape == (418, 3)


def test_xdi_export_of_a_spectrum_round_trips_through_the_spec_parser(tmp_path):
    source_fields, source_labels, source = parse_xdi(NI_XDI)
    fields, labels, data = parse_xdi(socscope.read(NI_XDI).to_xdi(tmp_path / "ni.xdi"))
    assert fields["column.1"] == "energy eV" and labels == ["energy", "mutrans"]
    assert (fields["element.symbol"], fields["element.edge"]) == (source_fields["element.symbol"],
                                                                   source_fields["element.edge"])
    assert np.allclose(data[:, 0], source[:, source_labels.index("energy")])
    assert np.allclose(data[:, 1], source[:, source_labels.index("mutrans")])
    again = socscope.read(tmp_path / "ni.xdi")  # and the pipeline's own XDI reader takes it back
    assert np.allclose(again.data["mu"], source[:, source_labels.index("mutrans")])


def test_xdi_export_of_a_raw_soft_xray_scan_keeps_its_channels(tmp_path):
    scan = socscope.read(SXR, part="tey")
    fields, labels, data = parse_xdi(scan.to_xdi(tmp_path / "ok.xdi"))
    assert labels == ["energy", "i0", "itey", "irefer"] and fields["element.symbol"] == "O"
    assert np.allclose(data, scan.data[["energy_ev", "i0", "signal", "ref"]].to_numpy())


# ------------------------------------------------------------------------------------------- BDF
#: the Battery Data Format's columns (battery-data-alliance/battery-data-format README, section
#: "Defining the BDF for Cycler Time-Series Data"): preferred label -> machine-readable name
BDF_SPEC = {
    "Test Time / s": "test_time_second", "Voltage / V": "voltage_volt", "Current / A": "current_ampere",
    "Unix Time / s": "unix_time_second", "Cycle Count / 1": "cycle_count", "Step Count / 1": "step_count",
    "Ambient Temperature / degC": "ambient_temperature_celsius", "Step Index / 1": "step_index",
    "Charging Capacity / Ah": "charging_capacity_ah", "Discharging Capacity / Ah": "discharging_capacity_ah",
    "Step Capacity / Ah": "step_capacity_ah", "Net Capacity / Ah": "net_capacity_ah",
    "Cumulative Capacity / Ah": "cumulative_capacity_ah", "Charging Energy / Wh": "charging_energy_wh",
    "Discharging Energy / Wh": "discharging_energy_wh", "Step Energy / Wh": "step_energy_wh",
    "Net Energy / Wh": "net_energy_wh", "Cumulative Energy / Wh": "cumulative_energy_wh",
    "Power / W": "power_watt", "Internal Resistance / Ohm": "internal_resistance_ohm",
}
BDF_REQUIRED = ("Test Time / s", "Voltage / V", "Current / A")


@pytest.mark.parametrize("name", ["cell.bdf.csv", "cell.bdf.parquet"])
def test_bdf_export_has_the_alliances_columns_and_the_files_values(tmp_path, name):
    out = socscope.read(ARBIN).to_bdf(tmp_path / name)
    bdf = pd.read_parquet(out) if name.endswith(".parquet") else pd.read_csv(out)
    assert set(bdf.columns) <= set(BDF_SPEC) and set(BDF_REQUIRED) <= set(bdf.columns)
    source = pd.read_csv(ARBIN, encoding="utf-8-sig")
    assert np.allclose(bdf["Voltage / V"], source["Voltage (V)"])
    assert np.allclose(bdf["Current / A"], source["Current (A)"])  # charge positive in both
    assert np.allclose(bdf["Test Time / s"], source["Test Time (s)"] - source["Test Time (s)"].iloc[0], atol=1e-3)
    stamps = pd.to_datetime(source["Date Time"].str.strip(), format="%m/%d/%Y %H:%M:%S.%f").dt.tz_localize("UTC")
    assert np.allclose(bdf["Unix Time / s"], (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), atol=1e-3)
    steps = source["Step Index"].to_numpy()  # 1, 2, 3: three steps run
    assert list(bdf["Step Count / 1"]) == list(np.cumsum(np.r_[1, steps[1:] != steps[:-1]]))


def test_bdf_machine_names_are_the_alliances(tmp_path):
    bdf = pd.read_csv(socscope.read(ARBIN).to_bdf(tmp_path / "m.bdf.csv", names="machine"))
    assert set(bdf.columns) <= set(BDF_SPEC.values()) and "voltage_volt" in bdf.columns


# ------------------------------------------------------------------------------------ gwy, NetCDF
def test_gwy_export_reads_back_with_gwyfile(tmp_path):
    import gwyfile

    m = socscope.read(NANOSCOPE)
    fields = gwyfile.util.get_datafields(gwyfile.load(str(m.to_gwy(tmp_path / "map.gwy"))))
    assert list(fields) == list(m.data.channel.values)
    for name, field in fields.items():
        assert np.array_equal(field.data, m.channel(name).values)
        assert field.xreal == pytest.approx(10e-6) and field.si_unit_xy.unitstr == "m"  # header: 10 ~m
        assert field.si_unit_z.unitstr == m.units[name]


def test_netcdf_export_reads_back_with_xarray(tmp_path):
    import xarray as xr

    m = socscope.read(NANOSCOPE)
    with xr.open_dataset(m.to_netcdf(tmp_path / "map.nc"), engine="h5netcdf") as ds:
        phase = ds["Phase_retrace"]
        assert phase.attrs["units"] == "deg" and phase.attrs["long_name"] == "Phase retrace"
        assert np.array_equal(phase.values, m.channel("Phase retrace").values)
        assert ds.x.attrs["units"] == "m" and float(ds.x[1] - ds.x[0]) == pytest.approx(10e-6 / 256)
        assert ds.attrs["socscope_reader"] == str(m.reader)
    with pytest.raises(TypeError, match="maps"):
        socscope.read(XYE).to_netcdf(tmp_path / "no.nc")
