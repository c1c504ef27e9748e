-- Raw files received per sample and technique, with how many were processed and quarantined.
SELECT r.technique, coalesce(r.sample_id, '(reference)') AS sample_id, count(*) AS files,
       count(*) FILTER (WHERE e.status = 'ok') AS processed,
       count(*) FILTER (WHERE e.status = 'quarantined') AS quarantined
FROM raw_files r
LEFT JOIN ingest_events e ON e.raw_sha256 = r.raw_sha256 AND e.stage = 'process'
GROUP BY ALL
ORDER BY 1, 2;
