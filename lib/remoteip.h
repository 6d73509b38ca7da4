/* remoteip.h: who the client is, as the protocol programs ask it: the
 * remote address from $TCPREMOTEIP (tcpserver, facteur-tlsd) or from the
 * socket on a descriptor (systemd Accept=yes), as text with IPv4-mapped
 * IPv6 written as plain IPv4; and whether an address is loopback or in a
 * list of networks (CIDR, IPv4 and IPv6). */
#ifndef FACTEUR_REMOTEIP_H
#define FACTEUR_REMOTEIP_H
#include <stddef.h>
#include "str.h"

#define REMOTEIP_TEXT_MAX 64   /* a longer $TCPREMOTEIP is not an address */

/* out gets the client's address: $TCPREMOTEIP when set (shorter than
 * REMOTEIP_TEXT_MAX), else the peer of the socket fd. An address in
 * either is normalised (::ffff:1.2.3.4 becomes 1.2.3.4, IPv6 in
 * inet_ntop's form); other text in $TCPREMOTEIP is kept as it is (cut to
 * REMOTEIP_TEXT_MAX - 1 bytes when the socket says nothing either), and
 * matches no network. out is "" only when there is no network client at
 * all: no $TCPREMOTEIP and fd a pipe or a Unix socket. Each program
 * decides what "" means for it. 1 ok (out NUL-terminated), 0 no memory. */
int remoteip_get(str *out, int fd);

/* 1 when ip is in 127.0.0.0/8 or is ::1 (also written ::ffff:127.x.y.z);
 * 0 for anything else, "" and junk included */
int remoteip_is_loopback(const char *ip);

/* 1 when ip is in one of the networks of list: NUL-separated lines of
 * listlen bytes (as control_readlines gives them), each "ADDR/BITS" or a
 * bare ADDR, IPv4 or IPv6; an IPv4 net also holds the same addresses
 * written ::ffff:a.b.c.d. Lines that are not a network are skipped. */
int remoteip_match(const char *ip, const char *list, size_t listlen);

#endif
