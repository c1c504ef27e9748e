-- Every raw file that did not make it into the warehouse, with the reason and what to do next;
-- the raw file is kept at store_path.
SELECT technique, sample_id, original_name, stage, status, reason, reader, attempted_at, store_path
FROM quarantine
ORDER BY technique, original_name;
