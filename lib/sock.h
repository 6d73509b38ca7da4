/* sock.h: socket options for the servers on descriptors 0 and 1. */
#ifndef FACTEUR_SOCK_H
#define FACTEUR_SOCK_H

/* TCP_NODELAY on fd when it is a TCP socket, so that a reply longer than
 * one segment does not wait for the peer's delayed ACK; nothing (and no
 * error) on a pipe, a file or a Unix socket. 1 when set. */
int sock_nodelay(int fd);

#endif
