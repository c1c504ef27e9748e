-- NEXAFS: per-sample Ni2+ fraction by detection mode and the surface-to-bulk (TEY - FY) gradient.
-- Several scans of one sample/mode are averaged; the nominal SOC comes from sample_config (always
-- registered, unlike the measured SOC of the samples view, which needs the cycler files).
CREATE OR REPLACE VIEW nexafs_ni_valence AS
SELECT f.campaign, f.sample_id, f.mode, f.params_id,
       avg(f.ni2_fraction) AS ni2_fraction,
       sqrt(sum(f.ni2_fraction_sigma * f.ni2_fraction_sigma)) / count(*) AS ni2_fraction_sigma,
       count(*) AS n_spectra
FROM xas_features f
WHERE f.edge = 'Ni_L' AND f.role = 'sample' AND f.ni2_fraction IS NOT NULL
GROUP BY f.campaign, f.sample_id, f.mode, f.params_id;

CREATE OR REPLACE VIEW nexafs_tey_fy_difference AS
SELECT t.campaign, t.sample_id, t.params_id, s.series, s.branch, s.soc_nominal_pct,
       t.ni2_fraction AS ni2_fraction_tey, b.ni2_fraction AS ni2_fraction_fy,
       t.ni2_fraction - b.ni2_fraction AS ni2_fraction_tey_minus_fy,
       sqrt(t.ni2_fraction_sigma * t.ni2_fraction_sigma + b.ni2_fraction_sigma * b.ni2_fraction_sigma)
           AS ni2_fraction_difference_sigma
FROM nexafs_ni_valence t
JOIN nexafs_ni_valence b ON b.sample_id = t.sample_id AND b.campaign = t.campaign
                         AND b.params_id = t.params_id AND b.mode = 'FY'
LEFT JOIN sample_config s ON s.sample_id = t.sample_id AND s.campaign = t.campaign
WHERE t.mode = 'TEY';

-- One row per sample and mode with the features finding 3 is about, next to the sample's SOC.
CREATE OR REPLACE VIEW nexafs_soc_profile AS
SELECT f.campaign, f.sample_id, f.mode, f.params_id, s.series, s.branch, s.soc_nominal_pct,
       avg(CASE WHEN f.edge = 'Ni_L' THEN f.ni2_fraction END) AS ni2_fraction,
       avg(CASE WHEN f.edge = 'Ni_L' THEN f.l3_low_high_ratio END) AS ni_l3_low_high_ratio,
       avg(CASE WHEN f.edge = 'O_K' THEN f.ok_preedge_intensity_ev END) AS ok_preedge_intensity_ev,
       avg(CASE WHEN f.edge = 'Co_L' THEN f.l3_centroid_ev END) AS co_l3_centroid_ev,
       avg(CASE WHEN f.edge = 'Mn_L' THEN f.l3_centroid_ev END) AS mn_l3_centroid_ev
FROM xas_features f
LEFT JOIN sample_config s ON s.sample_id = f.sample_id AND s.campaign = f.campaign
WHERE f.role = 'sample'
GROUP BY f.campaign, f.sample_id, f.mode, f.params_id, s.series, s.branch, s.soc_nominal_pct;
