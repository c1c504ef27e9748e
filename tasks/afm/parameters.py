"""The model of the AFM parameter set (tasks/afm/params/default.yaml): ESM and C-AFM maps,
one section per processing stage as in the YAML.

Keys the code reads with a default (esm.contact_q, esm.dart_sideband_width_hz, cafm.full_scale_a,
segmentation.fill_holes) are optional with that default. Keys the code does not read yet
(flatten.plane_order, flatten.line_alignment, segmentation.threshold) document the one method it
implements: they accept only that method, so that asking for another is refused, not ignored.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from foundation.parameters import UNITLESS, ParameterModel, interval, quantity, section, setting


class ChannelParameters(ParameterModel):
    preferred_direction: Literal["trace", "retrace"] = setting(
        "trace direction used when a file holds both (Asylum records retrace by default)")


class FlattenParameters(ParameterModel):
    plane_order: Literal[1] = quantity(UNITLESS, "order of the plane fitted to the whole image (only 1 is implemented)",
                                       1)
    line_alignment: Literal["median"] = setting(
        "per-line offset removal (only median is implemented: each line's median is subtracted)", "median")
    scar_threshold_sigma: StrictFloat | None = quantity(
        UNITLESS, "a pixel deviating from both neighbouring lines by more than this many robust sigmas, with the "
        "same sign, is a scar; null disables", gt=0)


class EsmParameters(ParameterModel):
    contact_q: StrictFloat | None = quantity(
        UNITLESS, "contact quality factor Q used when the file has no DART channels and no contact_q of its own; "
        "a value here is a default, flagged esm_q_from_config_default; null: no ESM in pm/V without a Q from "
        "the file (flagged esm_not_computed_no_q_source)", None, gt=0)
    dart_smooth_px: StrictInt = quantity(
        "px", "median-filter window of the per-pixel DART f0 and Q (1: the closed form unfiltered)", ge=1)
    dart_sideband_width_hz: StrictFloat | None = quantity(
        "Hz", "DART sideband spacing when the file's note lacks DFRTFrequencyWidth (flagged "
        "dart_sideband_width_from_config)", None, gt=0)


class CafmParameters(ParameterModel):
    conductive_threshold_pa: StrictFloat = quantity("pA", "|current| above this counts as conductive", ge=0)
    saturation_fraction: StrictFloat = quantity(
        UNITLESS, "pixels within this fraction of the amplifier's full scale are flagged saturated", gt=0, le=1)
    full_scale_a: StrictFloat | None = quantity(
        "A", "full scale of the current amplifier when the metadata does not give it; null: not flagged", None, gt=0)


class SegmentationPlausibility(ParameterModel):
    min_class_contrast: StrictFloat = quantity(
        UNITLESS, "particles vs matrix: (difference of means) / pooled std of the segmentation channel below "
        "this is flagged segmentation_low_contrast", ge=0)
    max_segment_fraction: StrictFloat = quantity(
        UNITLESS, "one segment covering more than this share of the map is flagged (not a particle)", gt=0, le=1)
    stripe_span_fraction: StrictFloat = quantity(
        UNITLESS, "a segment spanning this share of an image axis, 5x longer than wide, is stripe-like; "
        "stripe-like segments holding most of the segmented area are flagged", gt=0, le=1)


class SegmentationParameters(ParameterModel):
    cafm_current_sign: dict[StrictStr, Literal[-1, 1]] = quantity(
        UNITLESS, "per sample series, sign (+1 or -1) that makes particles bright in a C-AFM current map "
        "(series without an entry: -1)")
    height_weight: StrictFloat = quantity(UNITLESS, "weight of the z-scored topography added to the segmentation channel")
    smooth_sigma_um: StrictFloat = quantity("um", "Gaussian smoothing of the segmentation channel", gt=0)
    threshold: Literal["otsu"] = setting("threshold method (only otsu is implemented)", "otsu")
    opening_radius_um: StrictFloat = quantity("um", "radius of the morphological opening (0: none)", ge=0)
    min_particle_area_um2: StrictFloat = quantity("um^2", "smaller particles are dropped", ge=0)
    fill_holes: StrictBool = setting("fill holes inside particles", True)
    watershed_min_distance_um: StrictFloat = quantity(
        "um", "watershed seeds (distance-transform maxima) are at least this far apart", gt=0)
    watershed_min_seed_depth_um: StrictFloat = quantity(
        "um", "seeds closer than this to the background are ignored (saddle noise)", ge=0)
    plausibility: SegmentationPlausibility = section("when the particles of a map are flagged implausible")


class RegionParameters(ParameterModel):
    rim_width_um: StrictFloat = quantity("um", "particle pixels closer than this to the boundary are rim, others core",
                                         gt=0)


class HistogramParameters(ParameterModel):
    n_bins: StrictInt = quantity(UNITLESS, "number of bins of every channel's histogram", ge=1)
    esm_amp_pm_per_v: interval() = quantity("pm/V", "fixed [low, high] edges of the ESM amplitude histogram")
    current_pa: interval() = quantity("pA", "fixed [low, high] edges of the current histogram")
    crf_khz: interval(gt=0) = quantity("kHz", "fixed [low, high] edges of the contact resonance frequency histogram")
    height_nm: interval() = quantity("nm", "fixed [low, high] edges of the height histogram")


class ProfileParameters(ParameterModel):
    bin_width_um: StrictFloat = quantity("um", "bin width of the radial profile (distance from the boundary)", gt=0)
    max_distance_um: StrictFloat = quantity("um", "the radial profile stops at this distance from the boundary", gt=0)

    @model_validator(mode="after")
    def _at_least_one_bin(self) -> ProfileParameters:
        if self.max_distance_um < self.bin_width_um:
            raise ValueError(f"max_distance_um ({self.max_distance_um}) is shorter than one bin "
                             f"(bin_width_um {self.bin_width_um}): make it at least one bin wide")
        return self


class PairingParameters(ParameterModel):
    location_pattern: StrictStr = setting(
        "regex finding the location tag (group 'loc') in the original file name, else in the location note")
    upsample_factor: StrictInt = quantity(UNITLESS, "sub-pixel upsampling factor of the phase correlation", ge=1)
    min_peak_correlation: StrictFloat = quantity(
        UNITLESS, "pairs whose correlation peak is below this are kept but flagged low quality", ge=0, le=1)

    @field_validator("location_pattern")
    @classmethod
    def _regex_with_loc_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        if "loc" not in compiled.groupindex:
            raise ValueError("the regex needs a named group 'loc', e.g. (?P<loc>[0-9A-Za-z]+)")
        return pattern


class AfmParameters(ParameterModel):
    """ESM and C-AFM maps: flattening, signals, particle segmentation, histograms, profiles, pairing."""

    channels: ChannelParameters = section("which channels of a file are used")
    flatten: FlattenParameters = section("topography flattening: plane, line offsets, scars")
    esm: EsmParameters = section("ESM amplitude: contact Q and DART")
    cafm: CafmParameters = section("C-AFM current: conduction and saturation")
    segmentation: SegmentationParameters = section("particles versus binder/carbon/epoxy matrix")
    regions: RegionParameters = section("rim and core of each particle")
    histograms: HistogramParameters = section("fixed bin edges so maps compare across SOC")
    profiles: ProfileParameters = section("radial profiles from the particle boundary")
    pairing: PairingParameters = section("pairing and registration of ESM and C-AFM maps of one location")
