"""Issue 15 classes for the XAS readers: header edges (any element, xraydb energies), XDI against an
independent hand parse, NeXus routing by declared definition, Diamond SRS scans, Athena projects.

Expected values come from the files' own text (hand parses here, not our readers) and from xraydb."""
from __future__ import annotations

import ast
import csv
import gzip
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import xraydb

from foundation.contract import UnreadableFile
from foundation.registry import all_readers, detect
from tasks.nexafs.athena import AthenaProjectReader
from tasks.nexafs.edges import parse_edge, resolve_edge
from tasks.nexafs.nexus import NxxasReader
from tasks.nexafs.srs import DiamondSrsReader
from tasks.nexafs.xdi import XdiReader
from tasks.testing import assert_reader_conforms, assert_rejects

XDI_FILES = ["peer/xdi/fe_xanes_8ch.xdi", "peer/xdi/v_foil.xdi", "real/xas/NiK_references/ni_metal_rt.xdi"]


def hand_parse_xdi(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    """XDI by the spec, independently of the reader: '# Ns.tag: value' fields, Column.N names, rows."""
    fields, names, rows = {}, {}, []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("#"):
            m = re.match(r"#\s*(\w+)\.(\w+):\s*(.*)", line)
            if m and m.group(1).lower() == "column":
                names[int(m.group(2))] = m.group(3).split()[0]
            elif m:
                fields.setdefault(f"{m.group(1)}.{m.group(2)}".lower(), m.group(3).split("||")[0].strip())
        elif line.strip():
            rows.append([float(v) for v in line.split()])
    return fields, [names[k] for k in sorted(names)], np.array(rows)


# --- class 1 and 6: the XDI header decides the edge; values agree with a hand parse ----------------

@pytest.mark.parametrize("rel", XDI_FILES)
def test_xdi_agrees_with_a_hand_parse_and_xraydb(rel, real):
    path = real.parent / rel
    fields, names, rows = hand_parse_xdi(path)
    (m,) = assert_reader_conforms(all_readers()["nexafs-xdi"], path)
    element = fields.get("element.symbol") or fields["scanparameters.element"]
    edge = fields.get("element.edge") or fields["scanparameters.edge"]
    assert m.meta["edge"] == f"{element.strip()}_{edge.strip()}" and m.meta["element"] == element.strip()
    col = {n.lower(): i for i, n in enumerate(names)}
    energy = rows[:, col["energy"]]
    assert m.data["energy_ev"].size == rows.shape[0]
    np.testing.assert_allclose(m.data["energy_ev"][[0, -1]], energy[[0, -1]], rtol=0, atol=1e-9)
    if "mutrans" in col:
        expected = rows[:, col["mutrans"]]
    else:  # transmission from the ion chambers: ln(I0/I1) by hand
        expected = np.log(rows[:, col["i0"]] / rows[:, col.get("it", col.get("i1"))])
    np.testing.assert_allclose(m.data["mu"][[0, -1]], expected[[0, -1]], rtol=1e-12)
    assert m.meta["flags"] == [f for f in m.meta["flags"] if not f.startswith("edge_from_energy_range")]


def test_fe_scan_is_fe_k_even_though_it_stops_before_the_edge(peer):
    m = XdiReader().read(peer / "xdi/fe_xanes_8ch.xdi", {})
    assert m.meta["edge"] == "Fe_K"
    assert m.meta["edge_energy_ev"] == 7112.0  # ScanParameters.E0 of the header
    assert any(f.startswith("edge_outside_scan") for f in m.meta["flags"])  # scan ends at 7108.6 eV
    assert any("'it' taken as XDI itrans" in f for f in m.meta["flags"])


def test_xdi_columns_are_configurable_and_summed(peer):
    path = peer / "xdi/fe_xanes_8ch.xdi"
    _, names, rows = hand_parse_xdi(path)
    rois = [n for n in names if n.startswith("Fe_Ka_mca")]
    m = XdiReader().read(path, {})  # defaults: ln(I0/IT), transmission
    fy = XdiReader().read(path, {"columns": {"mu": rois}, "mode": "FY"})
    idx = [names.index(r) for r in rois]
    np.testing.assert_allclose(fy.data["mu"], rows[:, idx].sum(axis=1), rtol=1e-12)
    assert fy.mode == "FY" and m.mode == "TRANS"
    assert_rejects(XdiReader(), path, "not among the file's columns", {"columns": {"i0": "I_zero"}})


# --- class 2: any element and edge from xraydb ------------------------------------------------------

@pytest.mark.parametrize("symbol", ["Li", "C", "O", "F", "P", "S", "V", "Fe", "Cu", "Zr", "Mo", "Sn", "Pt", "U"])
def test_every_k_l3_m5_edge_is_xraydb_s(symbol):
    edges = xraydb.xray_edges(symbol)
    for level, partner, pair in (("K", None, None), ("L3", "L2", "L"), ("M5", "M4", "M")):
        if level not in edges or edges[level].energy <= 10.0:
            continue
        e0 = edges[level].energy
        e = np.linspace(e0 - 30, e0 + 5, 50)
        # the spin-orbit partner inside the scan makes it the pair edge (Ni_L); else the single level
        both = partner is not None and e0 - 30 <= edges[partner].energy <= e0 + 5
        edge = resolve_edge(f"{symbol} {level}", e)
        assert (edge.name, edge.energy_ev) == (f"{symbol}_{pair if both else level}", e0)


@pytest.mark.parametrize("text,expected", [("Ni_L", ("Ni", "L")), ("Ni L2,3", ("Ni", "L")), ("NiL3", ("Ni", "L3")),
                                           ("Fe K-edge", ("Fe", "K")), ("OK", ("O", "K")), ("la m4,5", ("La", "M")),
                                           ("Xx K", None), ("Ni Q", None)])
def test_edge_names(text, expected):
    assert parse_edge(text) == expected


def test_l3_header_over_both_spin_orbit_edges_is_the_l23_edge():
    assert resolve_edge("Ni L3", np.linspace(845, 880, 100)).name == "Ni_L"
    assert resolve_edge("Pt L3", np.linspace(11400, 12200, 100)).name == "Pt_L3"


def _step(e, e0, width=1.0):
    return 0.1 + np.arctan((e - e0) / width) / np.pi + 0.5


def test_edge_from_data_when_the_header_is_silent():
    e = np.linspace(5385, 6090, 400)
    edge = resolve_edge(None, e, _step(e, 5466.0))
    assert edge.name == "V_K" and edge.energy_ev == xraydb.xray_edge("V", "K").energy
    assert edge.flags and edge.flags[0].startswith("edge_from_energy_range")


def test_ambiguous_or_empty_energy_range_is_refused():
    e = np.linspace(770, 805, 351)  # Co L3 (778.1) and Ba M5 (780.5) overlap
    with pytest.raises(UnreadableFile, match="ambiguous among.*Co L3.*Ba M5|ambiguous among.*Ba M5.*Co L3"):
        resolve_edge(None, e, _step(e, 779.0))
    e = np.linspace(7020, 7100, 200)
    with pytest.raises(UnreadableFile, match="lists no absorption edge"):
        resolve_edge(None, e, _step(e, 7060.0))


# --- class 3: NeXus routing by what the file declares ---------------------------------------------

def write_real_layout_nxxas(path: Path, *, definition: str = "NXxas") -> np.ndarray:
    """NXxas per the application definition, groups named as a real beamline names them
    (NXinstrument 'instrument', NXmonochromator 'mono'); NX_class attributes on every group."""
    e = np.linspace(7080.0, 7180.0, 201)
    i0 = np.full(e.size, 2.0e5)
    with h5py.File(path, "w") as fh:
        entry = fh.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"], entry["title"], entry["start_time"] = definition, "Fe foil", "2026-01-01T00:00:00"
        entry["edge"] = "Fe K"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        for name, cls in (("source", "NXsource"), ("mono", "NXmonochromator"), ("incoming_beam", "NXdetector"),
                          ("absorbed_beam", "NXdetector")):
            inst.create_group(name).attrs["NX_class"] = cls
        inst["source/type"], inst["source/name"], inst["source/probe"] = "Synchrotron X-ray Source", "APS", "x-ray"
        inst["mono"].create_dataset("energy", data=e).attrs["units"] = "eV"
        inst["incoming_beam"].create_dataset("data", data=i0)
        inst["absorbed_beam"].create_dataset("data", data=i0 * (0.1 + _step(e, 7112.0)))
        inst["absorbed_beam"]["mode"] = "FY"
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["name"] = "Fe foil"
        mon = entry.create_group("monitor")
        mon.attrs["NX_class"] = "NXmonitor"
        mon["mode"], mon["preset"], mon["data"] = "timer", 1.0, i0
    return e


def test_nxxas_with_mono_routes_to_nexafs_without_a_hint(tmp_path):
    p = tmp_path / "fe_foil.nxs"
    e = write_real_layout_nxxas(p)
    assert detect(p, p.name).name == "nexafs-nxxas"  # no technique named: content decides
    (m,) = assert_reader_conforms(all_readers()["nexafs-nxxas"], p)
    np.testing.assert_array_equal(m.data["energy_ev"], e)
    assert m.meta["edge"] == "Fe_K" and m.mode == "FY" and m.meta["beamline"] == "APS"


def test_powder_nexus_still_routes_to_i11(tmp_path, real):
    for f in sorted((real / "sxpd").rglob("*.nxs")):
        assert detect(f, f.name).name == "i11-nexus", f
    p = tmp_path / "monopd.nxs"
    with h5py.File(p, "w") as fh:
        entry = fh.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXmonopd"
    assert detect(p, p.name).name == "i11-nexus"
    assert not NxxasReader().sniff(p.read_bytes()[:65536], p.name)


def test_non_xas_definition_is_refused_by_the_nxxas_reader(tmp_path):
    p = tmp_path / "other.nxs"
    write_real_layout_nxxas(p, definition="NXtomo")
    assert_rejects(NxxasReader(), p, "no NXentry with definition NXxas (definitions: ['NXtomo'])")


# --- class 4: Diamond SRS .dat ---------------------------------------------------------------------

SRS_GDA = """&SRS
<MetaDataAtStart>
cmd='scan pgm_energy 840 880 0.5 ca61sr ca62sr ca63sr'
date='Tue, 04 Mar 2025 10:15:31'
beamline=i06-1
</MetaDataAtStart>
&END
{names}
{rows}
"""
SRS_OLD = """ &SRS
 SRSRUN=123456,SRSDAT=20250304,SRSTIM=101531,
 SRSSTN='BASE',SRSPRJ='GDA_BASE    ',SRSEXP='Emacs',
 SRSTLE='NiO reference                                               ',
 SRSCN1='        ',SRSCN2='        ',SRSCN3='        ',
 &END
{names}
{rows}
"""


def write_srs(path: Path, template: str, names: list[str]) -> np.ndarray:
    """An SRS scan as GDA writes it (&SRS, header, &END, tab-separated names, tab-separated rows)."""
    e = np.arange(840.0, 880.01, 0.5)
    i0 = 1.0e5 * (1 + 0.01 * np.sin(e))
    tey = i0 * (0.2 + _step(e, 853.0, 0.6))
    table = np.column_stack([e, i0, tey, tey * 0.5, np.arange(e.size)])
    rows = "\n".join("\t".join(f"{v:.6f}" for v in r) for r in table)
    path.write_text(template.format(names="\t".join(names), rows=rows))
    return table


def read_back_with_csv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    end = next(i for i, ln in enumerate(lines) if ln.strip() == "&END")
    reader = csv.reader(lines[end + 1:], delimiter="\t")
    names = next(reader)
    return names, np.array([[float(v) for v in r] for r in reader])


@pytest.mark.parametrize("template", [SRS_GDA, SRS_OLD], ids=["gda-metadata", "srs-namelist"])
def test_srs_scan_is_read_value_for_value(tmp_path, template):
    p = tmp_path / "i06-1-123456.dat"
    write_srs(p, template, ["pgm_energy", "ca61sr", "ca62sr", "ca63sr", "point"])
    ms = assert_reader_conforms(all_readers()["nexafs-diamond-srs"], p)
    names, table = read_back_with_csv(p)
    assert [m.mode for m in ms] == ["TEY", "FY"]
    for m, col in zip(ms, ("ca62sr", "ca63sr")):
        np.testing.assert_array_equal(m.data["energy_ev"], table[:, names.index("pgm_energy")])
        np.testing.assert_array_equal(m.data["i0"], table[:, names.index("ca61sr")])
        np.testing.assert_array_equal(m.data["signal"], table[:, names.index(col)])
        assert m.meta["edge"] == "Ni_L" and any(f.startswith("column_mapping_defaulted") for f in m.meta["flags"])
    assert detect(p, "renamed.txt", "nexafs").name == "nexafs-diamond-srs"


def test_srs_columns_from_reader_options(tmp_path):
    p = tmp_path / "b07.dat"
    write_srs(p, SRS_GDA, ["fastEnergy", "mirror_current", "drain", "sdd", "point"])
    _, table = read_back_with_csv(p)
    ms = DiamondSrsReader().read(p, {"columns": {"energy": "fastEnergy", "i0": "mirror_current", "TEY": "sdd"},
                                     "edge": "Ni_L"})
    m = ms[0]
    assert not any(f.startswith("column_mapping_defaulted: energy") for f in m.meta["flags"])
    np.testing.assert_array_equal(m.data["signal"], table[:, 3])
    np.testing.assert_array_equal(m.data["i0"], table[:, 1])
    assert_rejects(DiamondSrsReader(), p, "not a column of this scan", {"columns": {"i0": "ca61sr"}})


def test_srs_header_only_and_unmapped_are_refused(tmp_path):
    p = tmp_path / "aborted.dat"
    p.write_text(SRS_GDA.split("{names}")[0])
    assert_rejects(DiamondSrsReader(), p, "header only")
    q = tmp_path / "odd.dat"
    write_srs(q, SRS_GDA, ["x", "y", "z", "w", "point"])
    assert_rejects(DiamondSrsReader(), q, "no energy column")


# --- class 5: Athena project -----------------------------------------------------------------------

def test_athena_project_against_a_literal_parse(real):
    path = real / "xas/NiK_references/NiO.prj"
    text = gzip.decompress(path.read_bytes()).decode()
    groups = re.findall(r"^\$old_group = '(\w+)';", text, re.M)
    xs = [ast.literal_eval(b) for b in re.findall(r"^@x = (\(.*?\));$", text, re.M)]
    ys = [ast.literal_eval(b) for b in re.findall(r"^@y = (\(.*?\));$", text, re.M)]
    ms = assert_reader_conforms(all_readers()["nexafs-athena-prj"], path)
    assert [m.part for m in ms] == groups and len(xs) == len(ys) == len(groups)
    for m, x, y in zip(ms, xs, ys):
        assert m.data["energy_ev"].size == len(x)
        np.testing.assert_allclose(m.data["energy_ev"][[0, -1]], [float(x[0]), float(x[-1])], rtol=1e-15)
        np.testing.assert_allclose(m.data["mu"][[0, -1]], [float(y[0]), float(y[-1])], rtol=1e-15)
        assert m.meta["edge"] == "Ni_K"


def test_damaged_athena_project_is_refused(tmp_path, real):
    raw = (real / "xas/NiK_references/NiO.prj").read_bytes()
    p = tmp_path / "cut.prj"
    p.write_bytes(raw[: len(raw) // 2])
    assert AthenaProjectReader().sniff(raw[:65536], "x.bin")
    assert_rejects(AthenaProjectReader(), p, "gzip stream is damaged")
