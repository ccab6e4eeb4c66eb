"""Linux interface-address flags and scopes, defined once for every reader of them.

The values are the kernel's ABI: ``IFA_F_*`` from include/uapi/linux/if_addr.h and the
scope numbers /proc/net/if_inet6 prints (``IPV6_ADDR_SCOPE_*`` in include/net/ipv6.h,
shifted left by 4, which is what the kernel stores as an address's scope).
"""

from __future__ import annotations

IFA_F_TEMPORARY = 0x01  # RFC 4941/8981 privacy address (also spelt IFA_F_SECONDARY)
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04  # RFC 4429 optimistic DAD
IFA_F_DADFAILED = 0x08  # RFC 4862 §5.4.5: a duplicate was found; the address is unusable
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20  # RFC 4862 §5.5.4: the preferred lifetime ran out
IFA_F_TENTATIVE = 0x40  # RFC 4862 §5.4: duplicate address detection still running
IFA_F_PERMANENT = 0x80  # configured by hand, not by DHCP/SLAAC with a lifetime
# Flags past the low byte exist only in netlink's IFA_FLAGS attribute: ifaddrmsg.ifa_flags
# and /proc/net/if_inet6 carry the low 8 bits.
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200

SCOPE_GLOBAL = 0x00
SCOPE_HOST = 0x10  # ::1
SCOPE_LINK = 0x20  # fe80::/10
