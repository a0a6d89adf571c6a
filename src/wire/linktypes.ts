/**
 * LINKTYPE_* values as written in pcap/pcapng headers (tcpdump.org/linktypes.html). DLT_RAW has
 * the platform-dependent numbers 12 and 14 besides the portable 101, so all three are listed.
 */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW_12 = 12;
export const LINKTYPE_RAW_14 = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_NFLOG = 239;
export const LINKTYPE_LINUX_SLL2 = 276;

/** The pcap header's link type field carries FCS information in its upper bits; libpcap's LT_LINKTYPE keeps the low 26. */
export const LINKTYPE_MASK = 0x03ffffff;
