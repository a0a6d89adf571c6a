/** Sanity limits for container records, shared by the pcap and pcapng parsers. */

/** Largest captured length accepted (libpcap's MAXIMUM_SNAPLEN). */
export const MAX_CAPLEN = 262144;
/** A record header whose timestamp jumps further than this from the previous packet is not trusted while resyncing. */
export const RESYNC_MAX_TS_JUMP_S = 86400;
/** Captured lengths this far above the declared snaplen mean a corrupt header, not a sloppy writer. */
export const SNAPLEN_SLACK = 65535;

export function capLenBeyondSnapLen(capLen: number, snapLen: number): boolean {
  return snapLen > 0 && capLen > snapLen + SNAPLEN_SLACK;
}
