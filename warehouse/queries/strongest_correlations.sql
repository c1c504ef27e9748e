-- The strongest cross-technique correlations across samples (pooled branches), e.g. ESM amplitude
-- against Ni2+ fraction or lattice parameters. Pairs within one technique are left out.
-- param: min_n = 4
SELECT series, feature_x, feature_y, n, round(pearson_r, 3) AS pearson_r, round(spearman_rho, 3) AS spearman_rho,
       round(ci_low, 3) AS ci_low, round(ci_high, 3) AS ci_high, n_interpolated, samples
FROM correlations
WHERE branch = 'pooled' AND n >= CAST($min_n AS INTEGER)
  AND split_part(feature_x, ':', 1) <> split_part(feature_y, ':', 1)
ORDER BY abs(pearson_r) DESC
LIMIT 30;
