-- One feature against SOC for every sample that has it: mean, interval, n, and whether the value
-- is measured or interpolated along SOC. Example: --param feature=esm_all_mean
-- param: feature = esm_all_mean
SELECT series, branch, sample_id, round(soc_pct, 1) AS soc_pct, technique, mode, feature, unit,
       mean, ci_low, ci_high, n, interpolated
FROM soc_profile
WHERE feature = $feature
ORDER BY series, branch, soc_pct, mode;
