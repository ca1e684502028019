-- The 20 sources with the most REJECTed flows: which addresses did the
-- security groups and network ACLs turn away most. Each summary file keeps
-- its object's top sources only, so the sums are exact for sources that
-- are among every object's top rows.
SELECT address,
       SUM(flows) AS rejected_flows,
       SUM(packets) AS packets,
       MAX(distinct_ports) AS most_ports_in_one_object,
       MAX(distinct_destinations) AS most_destinations_in_one_object,
       COUNT(*) AS objects,
       MIN(first_start) AS first_start,
       MAX(last_end) AS last_end
FROM flowguard.rejected
GROUP BY address
ORDER BY rejected_flows DESC, address
LIMIT 20
