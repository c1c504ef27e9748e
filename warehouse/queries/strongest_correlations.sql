-- The strongest cross-technique correlations across samples (pooled branches), e.g. ESM amplitude
-- against Ni2+ fraction or lattice parameters. Pairs within one technique are left out, and so is every
-- pair the correlations mart does not rank (`ranked`): fewer than correlations.min_measured_per_side
-- measured (not interpolated) points on either side (those are interpolated_only_correlation warnings),
-- a feature and its own variant, or two features from the same raw files. n is the number of samples,
-- n_measured_x / n_measured_y the measured ones per side, [ci_low, ci_high] the bootstrap 95 % interval.
-- param: min_n = 4
SELECT series, feature_x, feature_y, n, n_measured_x, n_measured_y, round(pearson_r, 3) AS pearson_r,
       round(spearman_rho, 3) AS spearman_rho, round(ci_low, 3) AS ci_low, round(ci_high, 3) AS ci_high,
       n_interpolated, samples
FROM correlations
WHERE branch = 'pooled' AND ranked AND n >= CAST($min_n AS INTEGER)
  AND split_part(feature_x, ':', 1) <> split_part(feature_y, ':', 1)
ORDER BY abs(pearson_r) DESC
LIMIT 30;
