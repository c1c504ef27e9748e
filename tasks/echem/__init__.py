"""Electrochemistry: cycler readers, SOC by coulomb counting, per-cycle figures and GITT diffusion."""
