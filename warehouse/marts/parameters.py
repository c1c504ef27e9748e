"""The model of the marts parameter set (warehouse/marts/params.yaml): every key is read as required
by profile.py, correlations.py and findings.py."""
from __future__ import annotations

from pydantic import StrictFloat, StrictInt

from foundation.parameters import UNITLESS, ParameterModel, interval, quantity, section


class BootstrapParameters(ParameterModel):
    n_resamples: StrictInt = quantity(UNITLESS, "bootstrap resamples for the 95 % intervals of means and correlations",
                                      ge=1)
    seed: StrictInt = quantity(UNITLESS, "seed of the resampling, fixed so a rebuild gives the same intervals", ge=0)


class InterpolationParameters(ParameterModel):
    continuous_bin_pct: StrictFloat = quantity(
        "%", "operando SXPD patterns and GITT pulses are averaged in SOC bins this wide", gt=0, le=100)


class CorrelationParameters(ParameterModel):
    min_samples: StrictInt = quantity(UNITLESS, "fewer samples with both values: no correlation row", ge=2)
    min_measured_per_side: StrictInt = quantity(
        UNITLESS, "fewer measured (not interpolated) points of either feature: the pair is not ranked by "
        "strongest_correlations or the dashboard and becomes an interpolated_only_correlation warning", ge=1)


class FindingsParameters(ParameterModel):
    c_peak_soc_range_pct: interval(ge=0, le=100) = quantity(
        "%", "claim 4: the c lattice parameter must peak in this SOC range [low, high] on charge")
    diffusion_length_fraction_of_a: StrictFloat = quantity(
        UNITLESS, "claim 7: sqrt(D/f) must stay below this fraction of the lattice parameter a", gt=0)


class MartsParameters(ParameterModel):
    """soc_profile, correlations and findings."""

    bootstrap: BootstrapParameters = section("bootstrap intervals")
    interpolation: InterpolationParameters = section("interpolation along SOC")
    correlations: CorrelationParameters = section("correlations across samples")
    findings: FindingsParameters = section("the findings checked against the science claims")
