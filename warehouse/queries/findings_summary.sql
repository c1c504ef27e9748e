-- Which of the seven claims of SCIENCE.md hold on this warehouse, and why (one row per check).
SELECT claim, check_name, verdict, round(statistic, 4) AS statistic, statistic_name, expected, why
FROM findings
ORDER BY claim, check_name;
