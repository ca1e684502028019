-- The 20 destinations that received the most HTTPS (TCP 443) packets.
SELECT dstaddr,
       SUM(packets) AS packets,
       SUM(bytes) AS bytes,
       SUM(flows) AS flows
FROM flowguard.services
WHERE dstport = 443
  AND protocol = 6
GROUP BY dstaddr
ORDER BY packets DESC, dstaddr
LIMIT 20
