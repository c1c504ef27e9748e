"""NEXAFS readers on the real files, on spec-built NXxas files and on damaged scans."""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from foundation.contract import DemoRequest
from tasks.nexafs.ascii_scan import BeamlineAsciiReader
from tasks.nexafs.nexus import NxxasReader
from tasks.nexafs.plugin import TECHNIQUE
from tasks.nexafs.two_column import ProcessedSpectrumReader
from tasks.nexafs.xdi import XdiReader
from tasks.testing import assert_reader_conforms, assert_rejects


def registered(cls):
    """The registered instance (the conformance kit checks that the registry picks this very reader)."""
    return next(r for r in TECHNIQUE.readers if isinstance(r, cls))


AU = "xas/soft_OK_edge_ausync/sxr129598.asc"
XDI = "xas/NiK_references/ni_metal_rt.xdi"
LNO = sorted(["xas/LiNiO2_operando_NiK/norm_op2_cell4_pos1_dq1_%04d_av240_00001.txt" % i for i in (1, 15, 30, 45, 58)])


def test_ausync_sxr_scan_conforms_and_maps_channels(real):
    ms = assert_reader_conforms(registered(BeamlineAsciiReader), real / AU)
    text = (real / AU).read_text()
    modes = {m.mode: m for m in ms}
    assert set(modes) == {"TEY", "PEY"}, "the MCP (TFY) channel holds only 0-3 counts and must be dropped"
    tey = modes["TEY"]
    assert "FY" in tey.meta["dropped_channels"]
    # the header says 701 points completed; beam current 200.037486 mA
    assert re.search(r"Points completed = (\d+)", text).group(1) == str(len(tey.data["energy_ev"]))
    assert tey.meta["ring_current_ma"] == pytest.approx(200.037486)
    assert tey.meta["edge"] == "O_K"
    # dark counts = MCP/ref dark rate (cps) x 0.6 s dwell, stated in the Extra PV block
    ref_rate = float(re.search(r'Ref_Foil_VF dark current average rate, "([\d.]+)"', text).group(1))
    assert tey.meta["dark_ref"] == pytest.approx(ref_rate * 0.6000001)


def test_xdi_ni_foil_conforms(real):
    (m,) = assert_reader_conforms(registered(XdiReader), real / XDI)
    body = [ln for ln in (real / XDI).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(m.data["energy_ev"]) == len(body)
    assert m.meta["edge"] == "Ni_K" and m.mode == "TRANS"
    assert m.data["mu"][0] == pytest.approx(float(body[0].split()[1]))


@pytest.mark.parametrize("name", LNO)
def test_processed_two_column_conforms(real, name):
    (m,) = assert_reader_conforms(registered(ProcessedSpectrumReader), real / name)
    assert m.meta["edge"] == "Ni_K" and m.meta["normalised_input"]


def test_other_files_are_not_claimed(real):
    from foundation.registry import read_head

    mpt = real / "xas/LiNiO2_operando_NiK/220726cell4operandoxas_C06.mpt"
    for r in (BeamlineAsciiReader(), XdiReader(), ProcessedSpectrumReader(), NxxasReader()):
        assert not r.sniff(read_head(mpt), mpt.name)
    assert not ProcessedSpectrumReader().sniff(read_head(real / AU), "x")
    assert not ProcessedSpectrumReader().sniff(read_head(real / XDI), "x")


def write_nxxas(path: Path, *, modes=("TEY", "FY"), with_i0=True, energy=None) -> dict:
    """Two NXxas entries (one per detection mode) laid out as the NXxas application definition."""
    e = np.linspace(845.0, 880.0, 351) if energy is None else energy
    i0 = 1e5 * (1 + 0.05 * np.linspace(0, 1, e.size))
    truth = {}
    with h5py.File(path, "w", track_order=True) as fh:
        for k, mode in enumerate(modes):
            entry = fh.create_group(f"entry{k + 1}")
            entry.attrs["NX_class"] = "NXentry"
            entry["title"] = f"NiO {mode}"
            entry["start_time"] = "2026-05-04T08:00:00Z"
            entry["definition"] = "NXxas"
            inst = entry.create_group("instrument")
            inst.attrs["NX_class"] = "NXinstrument"
            src = inst.create_group("source")
            src["type"], src["name"], src["probe"] = "Synchrotron X-ray Source", "KARA", "x-ray"
            mono = inst.create_group("monochromator")
            ds = mono.create_dataset("energy", data=e)
            ds.attrs["units"] = "eV"
            if with_i0:
                inc = inst.create_group("incoming_beam")
                inc.create_dataset("data", data=i0).attrs["units"] = "counts"
                inc["dark_current"] = 50.0
            ab = inst.create_group("absorbed_beam")
            sig = (0.2 + (e > 853) * 0.5) * i0 + 10.0 * (k + 1)
            ab.create_dataset("data", data=sig).attrs["units"] = "counts"
            ab["mode"] = mode
            ab["dark_current"] = 10.0 * (k + 1)
            truth[mode] = sig
            sample = entry.create_group("sample")
            sample["name"] = "NiO"
            mon = entry.create_group("monitor")
            mon["mode"], mon["preset"] = "timer", 1.0
            mon.create_dataset("data", data=i0)
    return truth


def test_nxxas_built_from_the_definition(tmp_path):
    p = tmp_path / "scan.nxs"
    write_nxxas(p)
    ms = assert_reader_conforms(registered(NxxasReader), p)
    assert [m.mode for m in ms] == ["TEY", "FY"]
    with h5py.File(p) as fh:  # second reader: h5py directly
        for m, key in zip(ms, ("entry1", "entry2")):
            np.testing.assert_array_equal(m.data["signal"], fh[f"{key}/instrument/absorbed_beam/data"][()])
            assert m.meta["dark_signal"] == float(fh[f"{key}/instrument/absorbed_beam/dark_current"][()])
    assert ms[0].meta["edge"] == "Ni_L" and ms[0].meta["dark_i0"] == 50.0


def test_nxxas_without_i0_is_rejected(tmp_path):
    p = tmp_path / "noi0.nxs"
    write_nxxas(p, with_i0=False)
    assert_rejects(NxxasReader(), p, "no I0")


def demo_file(tmp_path) -> Path:
    from foundation.config import load_campaign
    from tasks.nexafs.demo import demo

    camp = load_campaign(Path(__file__).resolve().parents[2] / "socscope/demo_campaign.yaml")
    demo(DemoRequest(share_root=tmp_path / "share", truth_root=tmp_path / "truth", profile="small", seed=3,
                     campaign=camp))
    return tmp_path / "share" / "nexafs" / "P-CH27" / "P-CH27_Ni_L_01.dat"


def test_kara_demo_scan_gives_tey_and_fy(tmp_path):
    p = demo_file(tmp_path)
    ms = assert_reader_conforms(registered(BeamlineAsciiReader), p)
    assert [(m.mode, m.part) for m in ms] == [("TEY", "tey"), ("FY", "fy")]
    header = {m.group(1): m.group(2) for m in re.finditer(r"^# (Dark \w+) \(\w+\): (\S+)$", p.read_text(), re.M)}
    assert ms[0].meta["dark_signal"] == float(header["Dark TEY"])
    assert ms[1].meta["dark_signal"] == float(header["Dark FY"])
    assert ms[0].meta["sample"] == "P-CH27" and ms[0].meta["edge"] == "Ni_L"


def _rewrite_rows(src: Path, dst: Path, fn) -> Path:
    lines = src.read_text().splitlines()
    head = [ln for ln in lines if ln.startswith("#")]
    rows = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    dst.write_text("\n".join(head + ["\t".join(r) for r in fn(rows)]) + "\n")
    return dst


def test_damaged_scans_are_quarantined_with_reasons(tmp_path):
    p = demo_file(tmp_path)
    r = BeamlineAsciiReader()

    def swap(rows):
        rows[10], rows[11] = rows[11], rows[10]
        return rows

    assert_rejects(r, _rewrite_rows(p, tmp_path / "nonmono.dat", swap), "not monotonic")

    def zero_i0(rows):
        return [[c if i != 1 else "0" for i, c in enumerate(row)] for row in rows]

    assert_rejects(r, _rewrite_rows(p, tmp_path / "zeroi0.dat", zero_i0), "I0 channel is all zero")

    def zero_yields(rows):
        return [[c if i not in (2, 3) else "0" for i, c in enumerate(row)] for row in rows]

    assert_rejects(r, _rewrite_rows(p, tmp_path / "dead.dat", zero_yields), "no yield channel carries signal")

    def no_i0(text):
        return text.replace("I0(A)", "Izero(A)")

    q = tmp_path / "noi0.dat"
    q.write_text(no_i0(p.read_text()))
    assert_rejects(r, q, "no I0 column")
    t = tmp_path / "truncated.dat"
    t.write_text(p.read_text()[: p.read_text().index("\n8")] + "\n845.0\t1e-10\n")
    assert_rejects(r, t, "truncated")
