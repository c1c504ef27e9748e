"""The model of the SXPD parameter set (tasks/sxpd/params/default.yaml): operando powder
diffraction of a layered NCM cathode, calibrated on a Si standard.

Keys the code reads with a default (tasks/sxpd/analysis.py, calibration.py) are optional here with
the code's default, which may differ from the value in default.yaml (e.g. peaks.passes: 2 in the
code, 1 in the file). ``wavelength.source`` is not read by the code (a configured wavelength wins
whenever one is set); it documents that rule and accepts its two words only.
"""
from __future__ import annotations

from typing import Literal

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from foundation.parameters import UNITLESS, ParameterModel, interval, quantity, section, setting

#: widths, windows and positions given in FWHM of the reflection are pure numbers ("1") in these units
_IN_WIDTHS = "in FWHM of the reflection"


class WavelengthParameters(ParameterModel):
    source: Literal["calibration", "configured"] = setting(
        "documentation: a configured wavelength (campaign settings) wins, else the nearest calibration", "calibration")
    max_calibration_distance_h: StrictFloat = quantity(
        "h", "a standard measured further away in time than this is not trusted for a pattern", gt=0)


class CalibrationParameters(ParameterModel):
    standard: Literal["Si"] = setting("calibration standard (only Si is supported)", "Si")
    standard_a_angstrom: StrictFloat = quantity("angstrom", "lattice parameter of the standard, held fixed", 5.431,
                                                gt=0)
    wavelength_search_angstrom: interval(gt=0) = quantity("angstrom", "[low, high] range the wavelength is searched in",
                                                          (0.3, 1.7))
    min_two_theta_deg: StrictFloat = quantity("deg", "the standard's pattern below this 2θ is not used", 1.0, ge=0)
    initial_fwhm_deg: StrictFloat = quantity("deg", "starting FWHM of the standard's reflections", 0.02, gt=0)
    asymmetry_below_deg: StrictFloat = quantity(
        "deg", "split pseudo-Voigt (asymmetry refined) for windows centred below this 2θ", 20.0, ge=0)
    join_fwhm: StrictFloat = quantity(UNITLESS, f"reflections closer than this share a window ({_IN_WIDTHS})", 3.0,
                                      gt=0)
    half_window_fwhm: StrictFloat = quantity(UNITLESS, f"a window reaches this far beyond its reflections ({_IN_WIDTHS})",
                                             6.0, gt=0)
    outlier_mad: StrictFloat = quantity(UNITLESS, "reflections further than this many MADs from the fit are dropped",
                                        5.0, gt=0)
    background_window_deg: StrictFloat = quantity("deg", "window of the background estimate", 1.0, gt=0)
    smooth_deg: StrictFloat = quantity("deg", "smoothing of the peak-search signal", 0.01, ge=0)
    min_relative_intensity: StrictFloat = quantity(
        UNITLESS, "reflections weaker than this fraction of the strongest are not fitted", 0.002, ge=0, le=1)
    max_iterations: StrictInt = quantity(UNITLESS, "iterations of the peak fit", 60, ge=1)


class LatticeSearchParameters(ParameterModel):
    a_range_angstrom: interval(gt=0) = quantity("angstrom", "[low, high] range of a in the coarse search")
    c_range_angstrom: interval(gt=0) = quantity("angstrom", "[low, high] range of c in the coarse search")
    n_reflections: StrictInt = quantity(UNITLESS, "strongest NCM reflections used for the template score", 16, ge=1)
    coarse_step_a_angstrom: StrictFloat = quantity("angstrom", "step of a in the coarse search", 0.0015, gt=0)
    coarse_step_c_angstrom: StrictFloat = quantity("angstrom", "step of c in the coarse search", 0.006, gt=0)


class PhaseSearchParameters(ParameterModel):
    scale_range_pct: StrictFloat = quantity("%", "declared phases: isotropic scale of the declared cell searched, ±",
                                            1.0, gt=0, le=10)
    scale_step_pct: StrictFloat = quantity("%", "step of that search", 0.02, gt=0)
    n_reflections: StrictInt = quantity(UNITLESS, "strongest reflections of a phase used for its search score", 12, ge=1)
    passes: StrictInt = quantity(UNITLESS, "fits of a pattern with declared phases; each later one starts from the "
                                 "refined cells", 2, ge=1, le=5)


class PeakParameters(ParameterModel):
    min_two_theta_deg: StrictFloat = quantity("deg", "low end of the analysed 2θ range", ge=0)
    max_two_theta_deg: StrictFloat = quantity("deg", "high end of the analysed 2θ range", gt=0, lt=180)
    min_relative_intensity: StrictFloat = quantity(
        UNITLESS, "reflections weaker than this fraction of the strongest (Lorentz-polarisation included) are not "
        "fitted", ge=0, le=1)
    background_window_deg: StrictFloat = quantity("deg", "window of the background estimate", 0.6, gt=0)
    smooth_deg: StrictFloat = quantity("deg", "smoothing of the peak-search signal", 0.01, ge=0)
    initial_size_fwhm_deg: StrictFloat = quantity("deg", "size term of the starting widths", 0.015, ge=0)
    initial_strain_fwhm_deg: StrictFloat = quantity("deg", "strain term of the starting widths (times tanθ)", 0.2, ge=0)
    join_fwhm: StrictFloat = quantity(UNITLESS, f"reflections closer than this share a window ({_IN_WIDTHS})", gt=0)
    half_window_fwhm: StrictFloat = quantity(UNITLESS, f"a window reaches this far beyond its reflections ({_IN_WIDTHS})",
                                             gt=0)
    max_peaks_per_group: StrictInt = quantity(UNITLESS, "windows with more reflections are skipped (too crowded)", ge=1)
    asymmetry_below_deg: StrictFloat = quantity("deg", "the asymmetry of windows centred below this 2θ is refined", ge=0)
    position_slack_fwhm: StrictFloat = quantity(
        UNITLESS, f"a position may move this far from its prediction ({_IN_WIDTHS})", 1.5, gt=0)
    max_iterations: StrictInt = quantity(UNITLESS, "windows still moving after this many iterations are flagged not "
                                         "converged", 40, ge=1)
    max_points_per_window: StrictInt = quantity(UNITLESS, "wider windows are rebinned to this many bins", 160, ge=1)
    chi2_tolerance: StrictFloat = quantity(UNITLESS, "converged when chi-square improves by less than this fraction",
                                           1e-6, gt=0)
    step_tolerance_sigma: StrictFloat = quantity(
        UNITLESS, "... or when no parameter would move by more than this many standard errors", 0.05, gt=0)
    passes: StrictInt = quantity(UNITLESS, "fits of the pattern; each later one starts from the refined lattice and "
                                 "widths", 2, ge=1)

    @model_validator(mode="after")
    def _range(self) -> PeakParameters:
        if not self.min_two_theta_deg < self.max_two_theta_deg:
            raise ValueError(f"min_two_theta_deg ({self.min_two_theta_deg}) must be below max_two_theta_deg "
                             f"({self.max_two_theta_deg})")
        return self


class PhaseParameters(ParameterModel):
    element: StrictStr | None = setting("element of the phase's atoms (default: the phase's name)", None)
    a_angstrom: StrictFloat = quantity("angstrom", "cubic lattice parameter, held fixed", gt=0)
    lattice: Literal["fcc", "bcc", "diamond"] = setting("cubic lattice type")
    initial_size_fwhm_deg: StrictFloat | None = quantity(
        "deg", "size term of this phase's starting widths (default: the peaks section's)", None, ge=0)
    initial_strain_fwhm_deg: StrictFloat | None = quantity(
        "deg", "strain term of this phase's starting widths (default: the peaks section's)", None, ge=0)


class LatticeParameters(ParameterModel):
    refine_zero_shift: StrictBool = setting("refine a per-pattern zero shift on top of the calibration's zero offset")
    min_separation_fwhm: StrictFloat = quantity(
        UNITLESS, f"reflections closer than this to another in their window are not used ({_IN_WIDTHS})", ge=0)
    min_area_sigma: StrictFloat = quantity(UNITLESS, "reflections whose area is below this many standard errors are "
                                           "not used", ge=0)
    outlier_sigma: StrictFloat = quantity(UNITLESS, "positions further than this many standard errors from the fit are "
                                          "dropped", gt=0)


class StrainParameters(ParameterModel):
    scherrer_k: StrictFloat = quantity(UNITLESS, "Scherrer constant of the Williamson-Hall size term", gt=0)
    min_reflections_per_family: StrictInt = quantity(
        UNITLESS, "fewer usable reflections: the family is reported as underdetermined", ge=2)


class AlignmentParameters(ParameterModel):
    clock_offset_s: StrictFloat = quantity("s", "beamline clock minus cycler clock (campaign settings win)")
    max_gap_s: StrictFloat = quantity("s", "no cycler record closer than this: voltage and SOC left null, flagged",
                                      gt=0)


class SxpdParameters(ParameterModel):
    """Calibration, lattice search, peak fitting, lattice, strain and time alignment of SXPD patterns."""

    wavelength: WavelengthParameters = section("which wavelength a pattern uses")
    calibration: CalibrationParameters = section("beamtime calibration from a standard (files under references/)")
    lattice_search: LatticeSearchParameters = section("coarse lattice search before fitting")
    peaks: PeakParameters = section("peak fitting")
    phase_search: PhaseSearchParameters = section("search and passes for phases declared in the campaign "
                                                  "(settings.sxpd.phases)", default_factory=PhaseSearchParameters)
    phases: dict[StrictStr, PhaseParameters] = section(
        "phases fitted alongside NCM (current collector, counter electrode), by name", default_factory=dict)
    lattice: LatticeParameters = section("a and c from the fitted positions")
    strain: StrainParameters = section("Williamson-Hall size and strain")
    alignment: AlignmentParameters = section("time alignment with the cycler record")
