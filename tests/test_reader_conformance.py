"""Every registered reader passes the conformance kit: on a real vendor file where one exists,
otherwise on a file its technique's tests build from the format's documented specification."""
from pathlib import Path

import pytest

from foundation.registry import all_readers
from tasks.testing import assert_reader_conforms

TESTS = Path(__file__).parent

#: reader -> a real file under tests/data/real
REAL = {
    "arbin-csv": "echem/arbin/2017-05-09_test-TC-contact_CH33.csv",
    "arbin-res": "echem/arbin/arbin_example.res",
    "asylum-ibw": "afm/IgorIBWReader_ImageStack_BTFO_DSO.ibw",
    "basytec-text": "echem/other/sample_data_basytec.txt",
    "biologic-mpr": "echem/biologic/00_test_02_MB_C01.mpr",
    "biologic-text": "echem/biologic/Sample_data_biologic_01_MB_CA1.txt",
    "bruker-nanoscope": "afm/di-3.di",
    "gwyddion-gwy": "afm/PTO_110_Virgin0001.gwy",
    "i11-nexus": "sxpd/i11_si_standard_1410696/1410696.nxs",
    "i11-xye": "sxpd/i11_si_standard_1410696/1410696_summed_mythen3.xye",
    "maccor-text": "echem/maccor/PredictionDiagnostics_000151_test.052",
    "neware-csv": "echem/neware/neware_uio.csv",
    "neware-nda": "echem/neware/test.nda",
    "nexafs-athena-prj": "xas/NiK_references/NiO.prj",
    "nexafs-beamline-ascii": "xas/soft_OK_edge_ausync/sxr129598.asc",
    "nexafs-processed-columns": "xas/LiNiO2_operando_NiK/norm_op2_cell4_pos1_dq1_0001_av240_00001.txt",
    "nexafs-xdi": "xas/NiK_references/ni_metal_rt.xdi",
    "novonix-csv": "echem/other/sample_data_novonix.csv",
}
#: readers of formats with no real file here: tested in their technique's suite on spec-built files
SPEC_BUILT = {"generic-csv": "echem", "nexafs-diamond-srs": "nexafs", "nexafs-nxxas": "nexafs", "refinement-csv": "sxpd", "sxpd-scan-log": "sxpd", "toyo-toscat": "echem"}


def test_every_reader_has_a_conformance_case():
    assert set(all_readers()) == set(REAL) | set(SPEC_BUILT)


@pytest.mark.parametrize("name", sorted(REAL))
def test_reader_conforms_on_a_real_file(name, real):
    ms = assert_reader_conforms(all_readers()[name], real / REAL[name])
    assert ms


@pytest.mark.parametrize("name", sorted(SPEC_BUILT))
def test_spec_built_reader_is_conformance_tested_in_its_suite(name):
    reader = all_readers()[name]
    sources = "\n".join(p.read_text() for p in (TESTS / SPEC_BUILT[name]).glob("test_*.py"))
    assert "assert_reader_conforms" in sources
    assert name in sources or type(reader).__name__ in sources, f"no spec-built conformance case for {name}"
