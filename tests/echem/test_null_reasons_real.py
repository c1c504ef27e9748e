"""Issue 18 on real cycler files: every null of an echem feature column says why (schemas/nulls.py).

Processed without a campaign cell config, as a user's first upload would be: SOC, per-gram capacities and
D cannot be computed, and the rows must say so, column by column; the GITT pulses' own fit gaps too."""
from __future__ import annotations

import pandas as pd
import pytest

from foundation.contract import ProcessContext
from foundation.parameters import load_params
from foundation.registry import read_measurements
from tasks.echem.plugin import TECHNIQUE
from tasks.testing import assert_nulls_have_reasons, sha256_of

FILES = ["real/echem/maccor/maccor_test_file_4267-66-6519.041", "peer/neware_csv/nw_regular_export_ife_example.csv",
         "peer/maccor/PreDiag_000412_00008Fshort.022", "real/xas/LiNiO2_operando_NiK/220726cell4operandoxas_C06.mpt"]


def _process(path):
    _, ms = read_measurements(path, sha256_of(path), path.name, technique_name="echem")
    ctx = ProcessContext(campaign=None, sample=None, params=load_params(TECHNIQUE.default_params), options={},
                         query=lambda sql, params=None: pd.DataFrame())
    return [TECHNIQUE.process(m, ctx) for m in ms]


@pytest.mark.parametrize("rel", FILES)
def test_every_null_of_a_real_cycler_file_has_its_reason(real, rel):
    for out in _process(real.parent / rel):
        assert out["echem_series"]["soc_pct"].isna().all()  # no cell config: nothing to count SOC against
        assert_nulls_have_reasons(TECHNIQUE.tables, out)


def test_prediag_pulse_without_a_fit_window_names_its_columns(peer):
    """A pulse of the real PreDiag Maccor file has fewer than two records in its sqrt(t) window."""
    (out,) = _process(peer / "maccor/PreDiag_000412_00008Fshort.022")
    pulses = out["gitt_pulses"]
    gap = pulses[pulses["sqrt_t_slope_v_per_sqrt_s"].isna()]
    assert len(gap) >= 1
    assert gap["null_reasons"].str.contains("ir_drop_v, delta_et_v, sqrt_t_slope_v_per_sqrt_s").all()
    assert pulses.loc[pulses["sqrt_t_slope_v_per_sqrt_s"].notna(), "null_reasons"].str.contains("ir_drop_v").sum() == 0
