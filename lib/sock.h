/* sock.h: socket options for the servers on descriptors 0 and 1, and
 * descriptors passed over a Unix socket (the TLS engine's hand-over). */
#ifndef FACTEUR_SOCK_H
#define FACTEUR_SOCK_H

/* TCP_NODELAY on fd when it is a TCP socket, so that a reply longer than
 * one segment does not wait for the peer's delayed ACK; nothing (and no
 * error) on a pipe, a file or a Unix socket. 1 when set. */
int sock_nodelay(int fd);

/* Two descriptors and a one-byte tag in one message over the Unix socket
 * s (SCM_RIGHTS). 1 sent, 0 not (errno). */
int sock_send2fds(int s, char tag, int fd0, int fd1);
/* The other side: waits up to timeout_ms for such a message; 1 when it
 * carried the tag `tag` and exactly two descriptors (close-on-exec, in
 * fds[0], fds[1]); 0 on anything else, with every descriptor that came
 * closed. */
int sock_recv2fds(int s, char tag, int fds[2], int timeout_ms);

#endif
