"""The model of the toy technique's parameter set (params/default.yaml and the versions tests write)."""
from __future__ import annotations

from pydantic import StrictFloat

from foundation.parameters import UNITLESS, ParameterModel, quantity, section


class ToyScaleParameters(ParameterModel):
    factor: StrictFloat = quantity(UNITLESS, "every y value is multiplied by this")


class ToyParameters(ParameterModel):
    """The toy technique's one parameter."""

    scale: ToyScaleParameters = section("scaling of the toy series")
