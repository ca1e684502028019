-- SSH (22) and RDP (3389) traffic per source, destination, port and action,
-- busiest first. Add "AND dt >= '2025-06-01'" to the WHERE clause to scan
-- fewer partitions.
SELECT srcaddr,
       dstaddr,
       dstport,
       action,
       SUM(flows) AS flows,
       SUM(packets) AS packets,
       SUM(bytes) AS bytes
FROM flowguard.admin
WHERE dstport IN (22, 3389)
GROUP BY srcaddr, dstaddr, dstport, action
ORDER BY flows DESC, bytes DESC, srcaddr, dstaddr, dstport, action
