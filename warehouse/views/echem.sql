-- Echem views: samples with their measured SOC, GITT pulses that passed their quality checks, and
-- measured vs nominal SOC per sample.

-- samples: one row per sample, config joined with the SOC measured from its cell's cycler file (in
-- place of the platform's view, which knows only the nominal SOC). Recomputing a sample's SOC rewrites
-- one row of sample_soc, never the measurement tables.
CREATE OR REPLACE VIEW samples AS
SELECT c.campaign, c.sample_id, c.series, c.branch, c.soc_nominal_pct, c.cell_id, c.description,
       s.soc_measured_pct,
       coalesce(s.soc_measured_pct, c.soc_nominal_pct) AS soc_pct,
       s.soc_measured_pct IS NULL AS soc_is_nominal
FROM sample_config c
LEFT JOIN current_sample_soc s ON s.sample_id = c.sample_id AND s.campaign = c.campaign;

CREATE OR REPLACE VIEW gitt_pulses_good AS
SELECT * FROM gitt_pulses
WHERE relaxed AND sqrt_t_r2 >= 0.9 AND d_m2_s > 0;

CREATE OR REPLACE VIEW echem_sample_soc AS
SELECT sample_id, cell_id, soc_nominal_pct, soc_measured_pct,
       soc_measured_pct - soc_nominal_pct AS soc_error_pct, soc_mismatch, harvested_at
FROM sample_soc;

-- D(SOC) per cell and branch in 10 % SOC bins, relaxed pulses only (finding 5); join with the CRF
-- of an AFM map and use warehouse.marts.findings.diffusion_length_nm (sqrt(D/f)) for finding 7.
CREATE OR REPLACE VIEW gitt_d_by_soc AS
SELECT cell_id, sample_id, direction, area_basis, particle_radius_um,
       round(soc_pct / 10) * 10 AS soc_bin_pct,
       median(d_m2_s) AS d_median_m2_s,
       median(d_sqrt_t_m2_s) AS d_sqrt_t_median_m2_s,
       count(*) AS pulses
FROM gitt_pulses
WHERE relaxed
GROUP BY ALL;
