-- Echem views: GITT pulses that passed their quality checks, and measured vs nominal SOC per sample.
CREATE OR REPLACE VIEW gitt_pulses_good AS
SELECT * FROM gitt_pulses
WHERE relaxed AND sqrt_t_r2 >= 0.9 AND d_m2_s > 0;

CREATE OR REPLACE VIEW echem_sample_soc AS
SELECT sample_id, cell_id, soc_nominal_pct, soc_measured_pct,
       soc_measured_pct - soc_nominal_pct AS soc_error_pct, soc_mismatch, harvested_at
FROM sample_soc;
