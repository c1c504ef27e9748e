"""Exports in the field's own formats, so results go to the tools people already use.

- ``xye``: diffraction patterns as ``.xye`` (2θ, intensity, σ) for GSAS-II, TOPAS, FullProf, Jana;
- ``xdi``: XAS spectra and scans as XDI 1.0 for Athena/Larch;
- ``bdf``: cycler records in the Battery Data Alliance's Battery Data Format (CSV, Parquet);
- ``maps``: AFM maps as Gwyddion ``.gwy`` and NetCDF-4;
- ``package``: a whole campaign as a Frictionless data package with sha256 checksums.

Each is reached from ``socscope.Measurement.to_*()``, ``socscope.Client`` and ``socscope export``.
"""
