-- samples: one row per sample as the config registers it, its SOC the nominal one. A technique that
-- measures the SOC of samples replaces this view (same columns) by one that joins its measurement.
CREATE OR REPLACE VIEW samples AS
SELECT c.campaign, c.sample_id, c.series, c.branch, c.soc_nominal_pct, c.cell_id, c.description,
       NULL::DOUBLE AS soc_measured_pct,
       c.soc_nominal_pct AS soc_pct,
       true AS soc_is_nominal
FROM sample_config c;

-- quarantine: the latest attempt of every raw file that did not make it, with its reason. A path
-- refused before it was read (a symlink out of the share, over the size limit) has no raw file: its
-- name is the event's.
CREATE OR REPLACE VIEW quarantine AS
SELECT e.raw_sha256, e.technique, e.sample_id, e.stage, e.status, e.reason, e.error_type, e.reader,
       e.params_id, e.attempted_at, coalesce(r.original_name, e.original_name) AS original_name, r.store_path
FROM ingest_events e LEFT JOIN raw_files r USING (raw_sha256)
WHERE e.status <> 'ok';

-- share_files: what each share path holds now (a file replaced under the same name is a new raw file;
-- the older one stays in raw_files, its rows in the tables, its sighting marked superseded_at).
CREATE OR REPLACE VIEW share_files AS
SELECT s.share, s.path, s.raw_sha256, s.size_bytes, s.mtime, s.first_seen, r.technique, r.sample_id,
       r.store_path,
       (SELECT count(*) FROM sightings o WHERE o.share = s.share AND o.path = s.path
          AND o.superseded_at IS NOT NULL) AS older_versions
FROM sightings s JOIN raw_files r USING (raw_sha256)
WHERE s.superseded_at IS NULL;
