"""remote-dns: a scripted DNS server (UDP and TCP on one port) for
facteur-remote's tests of what a well-behaved server like dnsmasq never
sends: truncation, SERVFAIL, silence, CNAME loops, garbage, null MX.

zone maps (name, qtype) to an action:
  ("mx", [(pref, target), ...])   MX records ("" target: the null MX)
  ("a", ["127.0.0.2", ...])       A records
  ("aaaa", ["::1"])               AAAA records
  ("cname", target)               one CNAME, nothing else
  ("cnameloop",)                  name -> x.name -> name
  ("servfail",) ("nxdomain",) ("silent",) ("garbage",) ("refused",)
  ("tc", action)                  UDP answer truncated; TCP gives action
  ("mxpad", [(pref, target)...], size)  MX records padded to size bytes
Names not in zone: NXDOMAIN. Every query is counted in .queries."""
import socket
import struct
import threading
import time

T = {"A": 1, "CNAME": 5, "MX": 15, "AAAA": 28}


def qname_of(p, off):
    labels = []
    while True:
        n = p[off]
        off += 1
        if n == 0:
            break
        labels.append(p[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels).lower(), off


def enc(name):
    out = b""
    for l in name.split("."):
        if l:
            out += bytes([len(l)]) + l.encode()
    return out + b"\0"


class DNS:
    def __init__(self, zone, host="127.0.0.1"):
        self.zone = zone
        self.queries = []
        self.stopping = False
        # UDP and TCP on one port number: the kernel picks a free UDP port,
        # which TCP may have in use (a parallel test's connection): try
        # another, a bounded number of times
        for attempt in range(50):
            self.u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.u.bind((host, 0))
            self.port = self.u.getsockname()[1]
            self.t = socket.socket()
            self.t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.t.bind((host, self.port))
                break
            except OSError:
                self.u.close()
                self.t.close()
                if attempt == 49:
                    raise
        self.t.listen(8)
        self.u.settimeout(0.2)
        self.t.settimeout(0.2)
        self.th = [threading.Thread(target=self._udp, daemon=True), threading.Thread(target=self._tcp, daemon=True)]
        for x in self.th:
            x.start()

    def stop(self):
        self.stopping = True
        for x in self.th:
            x.join(5)
        self.u.close()
        self.t.close()

    def answer(self, q, tcp):
        qid = q[:2]
        name, off = qname_of(q, 12)
        qtype = struct.unpack(">H", q[off:off + 2])[0]
        question = q[12:off + 4]
        self.queries.append((name, qtype, "tcp" if tcp else "udp"))
        key = None
        for k, v in self.zone.items():
            if k[0] == name and T[k[1]] == qtype:
                key = k
        act = self.zone.get(key)
        if act is None:
            known = any(k[0] == name for k in self.zone)
            rcode = 0 if known else 3
            return qid + struct.pack(">HHHHH", 0x8180 | rcode, 1, 0, 0, 0) + question
        if act[0] == "tc":
            if not tcp:
                return qid + struct.pack(">HHHHH", 0x8380, 1, 0, 0, 0) + question
            act = act[1]
        kind = act[0]
        if kind == "silent":
            return None
        if kind == "garbage":
            return qid + b"\x81\x80\x00\x01\x00\x05" + b"\xc0\x0c\xff" * 7
        if kind in ("servfail", "refused", "nxdomain"):
            rc = {"servfail": 2, "refused": 5, "nxdomain": 3}[kind]
            return qid + struct.pack(">HHHHH", 0x8180 | rc, 1, 0, 0, 0) + question
        rrs = []
        if kind == "mxpad":
            # MX records, then a TXT record that makes the answer exactly
            # act[2] bytes long (65535: the largest a TCP answer can be)
            for pref, target in act[1]:
                rd = struct.pack(">H", pref) + enc(target)
                rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 15, 1, 60, len(rd)) + rd)
            head = qid + struct.pack(">HHHHH", 0x8180, 1, len(rrs) + 1, 0, 0) + question
            size = len(head) + sum(len(r) for r in rrs)
            pad = act[2] - size - 12
            rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, pad) + b"x" * pad)
            return head + b"".join(rrs)
        if kind == "mx":
            for pref, target in act[1]:
                rd = struct.pack(">H", pref) + enc(target)
                rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 15, 1, 60, len(rd)) + rd)
        elif kind == "a":
            for ip in act[1]:
                rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip))
        elif kind == "aaaa":
            for ip in act[1]:
                rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, ip))
        elif kind == "cname":
            rd = enc(act[1])
            rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(rd)) + rd)
        elif kind == "cnameloop":
            other = "x." + name
            rd = enc(other)
            rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(rd)) + rd)
            rrs.append(enc(other) + struct.pack(">HHIH", 5, 1, 60, 2) + b"\xc0\x0c")
        return qid + struct.pack(">HHHHH", 0x8180, 1, len(rrs), 0, 0) + question + b"".join(rrs)

    def _udp(self):
        end = time.time() + 120
        while not self.stopping and time.time() < end:
            try:
                q, a = self.u.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                r = self.answer(q, False)
            except Exception:
                r = None
            if r is not None:
                self.u.sendto(r, a)

    def _tcp(self):
        end = time.time() + 120
        while not self.stopping and time.time() < end:
            try:
                c, _ = self.t.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(5)
            try:
                n = struct.unpack(">H", c.recv(2))[0]
                q = b""
                while len(q) < n:
                    d = c.recv(n - len(q))
                    if not d:
                        break
                    q += d
                r = self.answer(q, True)
                if r is not None:
                    c.sendall(struct.pack(">H", len(r)) + r)
            except (OSError, struct.error):
                pass
            c.close()
