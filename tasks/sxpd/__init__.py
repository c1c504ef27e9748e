"""Operando synchrotron powder diffraction (Diamond I11): readers, calibration, peak fits, lattice, strain, SOC."""
