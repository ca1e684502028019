-- Findings of the last 7 days per severity and rule, most severe first.
SELECT severity,
       rule,
       COUNT(*) AS findings,
       SUM(flows) AS flows,
       MIN(first_seen) AS first_seen,
       MAX(last_seen) AS last_seen
FROM flowguard.findings
WHERE dt >= date_format(current_date - interval '7' day, '%Y-%m-%d')
GROUP BY severity, rule
ORDER BY CASE severity WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END,
         findings DESC,
         rule
