-- samples: one row per sample as the config registers it, its SOC the nominal one. A technique that
-- measures the SOC of samples replaces this view (same columns) by one that joins its measurement.
CREATE OR REPLACE VIEW samples AS
SELECT c.campaign, c.sample_id, c.series, c.branch, c.soc_nominal_pct, c.cell_id, c.description,
       NULL::DOUBLE AS soc_measured_pct,
       c.soc_nominal_pct AS soc_pct,
       true AS soc_is_nominal
FROM sample_config c;

-- ignored: files that are not data. By pattern: a share's ignore list (`._*`, `.DS_Store`, ...) as
-- intake last saw it; by a person: the latest decision on a raw file or share path is `ignore`
-- (`socscope ignore FILE --why`). target is the raw file's sha256 or the path key of a share path.
CREATE OR REPLACE VIEW ignored AS
WITH latest AS (
  SELECT *, row_number() OVER (PARTITION BY target ORDER BY decided_at DESC) AS k FROM decisions)
SELECT d.target, d.technique, d.sample_id, 'person' AS how, d.share,
       coalesce(d.path, r.original_name) AS original_name, d.why, d.who, d.decided_at AS since
FROM latest d LEFT JOIN raw_files r ON r.raw_sha256 = d.target
WHERE d.k = 1 AND d.action = 'ignore'
UNION ALL
SELECT e.raw_sha256, e.technique, e.sample_id, 'pattern', NULL, e.original_name, e.reason, NULL, e.attempted_at
FROM ingest_events e
WHERE e.stage = 'intake' AND e.status = 'ignored';

-- quarantine: the latest attempt of every raw file that did not make it, with its reason. A path
-- refused before it was read (a symlink out of the share, over the size limit) has no raw file: its
-- name is the event's. Ignored files are never quarantined.
CREATE OR REPLACE VIEW quarantine AS
SELECT e.raw_sha256, e.technique, e.sample_id, e.stage, e.status, e.reason, e.error_type, e.reader,
       e.params_id, e.attempted_at, coalesce(r.original_name, e.original_name) AS original_name, r.store_path
FROM ingest_events e LEFT JOIN raw_files r USING (raw_sha256)
WHERE e.status NOT IN ('ok', 'ignored')
  AND e.raw_sha256 NOT IN (SELECT target FROM ignored WHERE how = 'person');

-- share_files: what each share path holds now (a file replaced under the same name is a new raw file;
-- the older one stays in raw_files, its rows in the tables, its sighting marked superseded_at).
CREATE OR REPLACE VIEW share_files AS
SELECT s.share, s.path, s.raw_sha256, s.size_bytes, s.mtime, s.first_seen, r.technique, r.sample_id,
       r.store_path,
       (SELECT count(*) FROM sightings o WHERE o.share = s.share AND o.path = s.path
          AND o.superseded_at IS NOT NULL) AS older_versions
FROM sightings s JOIN raw_files r USING (raw_sha256)
WHERE s.superseded_at IS NULL;
