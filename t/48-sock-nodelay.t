#!/usr/bin/env python3
"""t/48-sock-nodelay.t: facteur-smtpd, -pop3d, -imapd and -lmtpd set
TCP_NODELAY on their connection themselves (lib/sock), so that under a
tcpserver without -D a reply longer than one segment does not wait ~40 ms
for a delayed ACK. The option is read on the server's own descriptor 1,
taken with pidfd_getfd(2) (we are root in CI; skipped otherwise)."""
import ctypes
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

SYS_pidfd_open = 434
SYS_pidfd_getfd = 438
libc = ctypes.CDLL(None, use_errno=True)


def peer_fd(pid, fd):
    pfd = libc.syscall(SYS_pidfd_open, pid, 0)
    if pfd < 0:
        return -1
    try:
        return libc.syscall(SYS_pidfd_getfd, pfd, fd, 0)
    finally:
        os.close(pfd)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def nodelay_of_server(tcp_pid, port):
    """connect, wait for the greeting, read TCP_NODELAY on the server's fd 1"""
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        c.settimeout(10)
        greet = c.recv(512)
        kids = []
        end = time.time() + 5
        while not kids and time.time() < end:
            kids = children(tcp_pid)
            if not kids:
                time.sleep(0.05)
        if not kids:
            return None, greet
        fd = peer_fd(kids[-1], 1)
        if fd < 0:
            return None, greet
        s = socket.socket(fileno=fd)
        try:
            v = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            s.close()
        return v, greet
    finally:
        c.close()


def main():
    t = ft.TAP()
    if os.geteuid() != 0:
        t.skip_all("pidfd_getfd on another user's process needs root")
        return
    if subprocess.run(["which", "tcpserver"], stdout=subprocess.DEVNULL).returncode != 0:
        t.skip_all("tcpserver (ucspi-tcp) not installed")
        return
    # can we take a descriptor from another process here at all?
    probe = subprocess.Popen(["sleep", "30"], stdin=subprocess.PIPE)
    fd = peer_fd(probe.pid, 0)
    probe.kill()
    probe.wait()
    if fd < 0:
        t.skip_all("pidfd_getfd(2) not available here (errno %d)" % ctypes.get_errno())
        return
    os.close(fd)
    home = ft.make_instance()
    env = ft.env_for(home)
    for prog, want in (("facteur-smtpd", b"220"), ("facteur-pop3d", b"+OK"),
                       ("facteur-imapd", b"* OK"), ("facteur-lmtpd", b"220")):
        port = ft.free_port()
        # no -D: Nagle stays on unless the program turns it off
        p = ft.start(["tcpserver", "-HRl0", "-c", "5", "127.0.0.1", str(port), ft.bin_path(prog)], env)
        deadline = time.time() + 10
        v, greet = None, b""
        while time.time() < deadline:
            try:
                v, greet = nodelay_of_server(p.pid, port)
                break
            except OSError:
                time.sleep(0.1)
        t.ok(greet.startswith(want), "%s greets (%r)" % (prog, greet[:30]))
        t.ok(v is not None and v != 0, "%s: TCP_NODELAY set on its socket without tcpserver -D (got %r)" % (prog, v))
        p.stop()


if __name__ == "__main__":
    main()
