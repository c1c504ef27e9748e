"""Electrochemistry: cycler readers, SOC by coulomb counting, per-cycle figures and GITT diffusion."""
from tasks.echem.diffusion import diffusion_length_nm

__all__ = ["diffusion_length_nm"]
