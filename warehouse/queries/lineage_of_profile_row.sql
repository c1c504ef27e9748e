-- Lineage of a number: from one soc_profile row to the raw files, readers and parameter sets
-- that produced it (and where each raw file was seen on the shares).
-- param: profile_key =
SELECT p.sample_id, p.technique, p.mode, p.feature, p.mean, p.unit, p.interpolated, p.params_id AS marts_params_id,
       l.raw_sha256, l.n_observations, r.original_name, r.store_path, r.first_seen,
       e.reader, e.params_id AS technique_params_id, e.flow_run_id, e.attempted_at,
       (SELECT string_agg(s.share || ':' || s.path, ', ') FROM sightings s WHERE s.raw_sha256 = l.raw_sha256) AS seen_at
FROM soc_profile p
JOIN soc_profile_lineage l ON l.profile_key = p.profile_key AND l.params_id = p.params_id
LEFT JOIN raw_files r ON r.raw_sha256 = l.raw_sha256
LEFT JOIN ingest_events e ON e.raw_sha256 = l.raw_sha256 AND e.stage = 'process' AND e.status = 'ok'
WHERE p.profile_key = $profile_key
ORDER BY r.original_name;
