-- The 20 addresses that sent and received the most bytes. Each summary file
-- keeps its object's top talkers only, so an address that is never among
-- one object's top talkers is not counted.
SELECT address,
       SUM(bytes_in + bytes_out) AS bytes,
       SUM(bytes_in) AS bytes_in,
       SUM(bytes_out) AS bytes_out,
       SUM(packets_in + packets_out) AS packets,
       SUM(flows_in + flows_out) AS flows
FROM flowguard.talkers
GROUP BY address
ORDER BY bytes DESC, address
LIMIT 20
