-- AFM views: map statistics with the sample's SOC, and the per-sample SOC trend of ESM and current.
CREATE OR REPLACE VIEW afm_maps_soc AS
SELECT m.*, s.series, s.branch, s.soc_nominal_pct
FROM afm_maps m LEFT JOIN samples s USING (sample_id);

-- The study averages cumulative C-AFM current over the whole image, polished over particles only.
CREATE OR REPLACE VIEW afm_sample_trends AS
SELECT sample_id, series, branch, soc_nominal_pct,
       avg(CASE WHEN mode = 'ESM' THEN CASE WHEN series = 'polished' THEN esm_particles_mean_pm_per_v
                                            ELSE esm_all_mean_pm_per_v END END) AS esm_mean_pm_per_v,
       avg(CASE WHEN mode = 'ESM' THEN esm_rim_core_ratio END) AS esm_rim_core_ratio,
       avg(CASE WHEN mode = 'CAFM' THEN CASE WHEN series = 'polished' THEN current_particles_mean_pa
                                             ELSE current_all_mean_pa END END) AS current_mean_pa,
       avg(CASE WHEN mode = 'CAFM' THEN conductive_area_fraction_particles END) AS conductive_fraction_particles,
       count(*) AS n_maps
FROM afm_maps_soc
GROUP BY ALL;
