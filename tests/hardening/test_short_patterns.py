"""Valid real patterns whose 2θ range holds nothing to analyse are refused with the range named, never
an IndexError from the peak search (issue 16: example_mac.xye got "index -1 is out of bounds")."""
from __future__ import annotations

import pytest

from foundation.contract import ProcessContext, UnreadableFile
from foundation.registry import read_measurements
from tests.conftest import REAL
from tests.sxpd.test_plugin import CAMPAIGN, PARAMS, PLUGIN, _query

SNIPPETS = {"example_mac.xye": "2θ 0–0.598°", "example_mythen.xye": "2θ 2.038–2.33°", "example_mythen.dat": "d ≥"}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_patterns_outside_the_analysed_range_are_refused_with_their_range(name):
    path = REAL / "sxpd" / "format_snippets" / name
    _, (m,) = read_measurements(path, "0" * 64, name, technique_name="sxpd")
    ctx = ProcessContext(CAMPAIGN, CAMPAIGN.sample("O-1"), PARAMS, {"wavelength_angstrom": 0.826}, _query({}))
    with pytest.raises(UnreadableFile) as refusal:
        PLUGIN.process(m, ctx)
    assert SNIPPETS[name] in str(refusal.value)
