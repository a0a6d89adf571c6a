/**
 * Ports Zeek treats as likely server ports (its analyzers' registered well-known ports), used by
 * the role heuristic for flows that do not start with a SYN. Same list for TCP and UDP except
 * where a protocol only exists on one of them.
 */
const TCP_PORTS = [
  21, 22, 23, 25, 53, 80, 81, 88, 110, 111, 113, 135, 139, 143, 179, 389, 443, 445, 465, 502, 512, 513, 514, 563,
  585, 587, 614, 631, 636, 989, 990, 992, 993, 995, 1080, 1194, 1433, 1521, 1723, 1883, 2049, 2375, 2376, 2379,
  2380, 3128, 3268, 3306, 3389, 4222, 5060, 5061, 5222, 5223, 5269, 5432, 5672, 5900, 6379, 6443, 6666, 6667, 6668,
  6669, 8000, 8080, 8443, 8888, 9092, 9200, 10250, 11211, 20000, 27017,
];
const UDP_PORTS = [
  53, 67, 68, 69, 88, 123, 137, 138, 161, 162, 443, 500, 514, 1194, 1812, 1813, 2123, 2152, 3544, 4500, 4789,
  5060, 5072, 5353, 5355, 6081, 8472, 11211,
];

const tcpSet = new Uint8Array(65536);
const udpSet = new Uint8Array(65536);
for (const p of TCP_PORTS) tcpSet[p] = 1;
for (const p of UDP_PORTS) udpSet[p] = 1;

export function isLikelyServerPort(proto: number, port: number): boolean {
  return proto === 6 ? tcpSet[port] === 1 : proto === 17 ? udpSet[port] === 1 : false;
}
