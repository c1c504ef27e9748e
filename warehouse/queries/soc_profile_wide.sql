-- The SOC profile in wide form: one row per sample (series, branch, SOC), one column per
-- technique:mode:feature holding its mean (interpolated values included, see soc_profile).
PIVOT (SELECT sample_id, series, branch, soc_pct,
              technique || ':' || coalesce(mode, '') || ':' || feature AS feature_key, mean
       FROM soc_profile
       WHERE series IN ('cumulative', 'polished'))
ON feature_key USING first(mean)
GROUP BY sample_id, series, branch, soc_pct
ORDER BY series, branch, soc_pct;
