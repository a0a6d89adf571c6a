/** IP protocol numbers (IPv4 protocol field, IPv6 next header) the decoders dispatch on. */
export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_GRE = 47;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_SCTP = 132;

/** UDP ports of the overlays decoded into their inner packet. */
export const UDP_PORT_VXLAN = 4789;
/** flannel's VXLAN backend uses the Linux kernel's historical default port. */
export const UDP_PORT_VXLAN_LINUX = 8472;
export const UDP_PORT_GENEVE = 6081;
