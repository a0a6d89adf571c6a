/** EtherType values the decoders dispatch on. */
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard Q-in-Q outer tag used by some switches. */
export const ETHERTYPE_QINQ_OLD = 0x9100;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Transparent Ethernet Bridging: a whole Ethernet frame follows (GRE, Geneve). */
export const ETHERTYPE_TEB = 0x6558;
