-- Toy views: the mean y of each sample and mode, over the active parameter set.
CREATE OR REPLACE VIEW toy_sample_means AS
SELECT sample_id, mode, avg(y_v) AS mean_y_v, count(*) AS n_points
FROM current_toy_values
WHERE sample_id IS NOT NULL
GROUP BY ALL;
