"""remote-peer: a scripted SMTP server for facteur-remote's tests.

Peer(behaviour) listens on 127.0.0.1 (or a given address) in a thread and
answers each connection as the behaviour dict says; every line it reads is
recorded with the number of the recv() chunk it came in (to see
PIPELINING), and every message it accepts is kept. Bounded: it stops
after max_conns connections and every socket has a timeout."""
import socket
import ssl
import threading
import time

DEFAULT = {
    "greeting": b"220 peer.test ESMTP\r\n",
    "ehlo": [b"PIPELINING", b"SIZE 10000000", b"8BITMIME"],
    "ehlo_reply": None,       # raw bytes to send instead of a 250 list
    "helo_reply": b"250 peer.test\r\n",
    "mail": b"250 2.1.0 ok\r\n",  # or function(mail line) -> bytes
    "rcpt": None,             # function(addr) -> bytes, default 250
    "data": b"354 go ahead\r\n",
    "dataend": b"250 2.0.0 queued as X\r\n",
    "hang": None,             # "greeting" | "ehlo" | "rcpt" | "dataend"
    "drop": None,             # "data": close after reading a few body lines
    "tls": None,              # an ssl.SSLContext: offer STARTTLS
    "starttls_reply": b"220 2.0.0 ready\r\n",
    "tls_break": False,       # answer 220 then send junk instead of a handshake
    "only_first": False,      # the odd behaviour on the first connection only
    "dataend_fn": None,       # function(mail, rcpts, body) -> bytes: the reply to the dot
    "dataend_delay": 0,       # seconds before that reply (a slow peer)
}


class Peer:
    def __init__(self, behaviour=None, host="127.0.0.1", port=0, max_conns=8):
        self.b = dict(DEFAULT)
        self.b.update(behaviour or {})
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.conns = []           # per connection: list of (chunk, line)
        self.messages = []        # (mail line, [rcpt lines], data bytes, tls)
        self.max_conns = max_conns
        self.stopping = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def stop(self):
        self.stopping = True
        self.t.join(10)
        self.sock.close()

    def lines(self, i=-1):
        return [l for _, l in self.conns[i]] if self.conns else []

    def _run(self):
        n = 0
        end = time.time() + 120
        while not self.stopping and n < self.max_conns and time.time() < end:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            n += 1
            c.settimeout(15)
            rec = []
            self.conns.append(rec)
            try:
                self._session(c, rec, n)
            except (OSError, ssl.SSLError, ValueError):
                pass
            try:
                c.close()
            except OSError:
                pass

    def _session(self, c, rec, n):
        b = dict(self.b)
        if b["only_first"] and n > 1:
            for k in ("greeting", "hang", "drop", "tls_break", "ehlo_reply"):
                b[k] = DEFAULT[k]
        state = {"buf": b"", "chunk": 0, "sock": c, "tls": False}

        def readline():
            while b"\n" not in state["buf"]:
                d = state["sock"].recv(65536)
                if not d:
                    return None
                state["chunk"] += 1
                state["buf"] += d
                if len(state["buf"]) > 10 * 1024 * 1024:
                    return None
            line, state["buf"] = state["buf"].split(b"\n", 1)
            line += b"\n"
            rec.append((state["chunk"], line))
            return line

        def send(x):
            state["sock"].sendall(x)

        def hang():
            end = time.time() + 8
            while time.time() < end and not self.stopping:
                time.sleep(0.05)

        if b["hang"] == "greeting":
            return hang()
        send(b["greeting"])
        if not b["greeting"].startswith(b"2"):
            readline()
            return
        mail, rcpts = None, []
        while True:
            line = readline()
            if line is None:
                return
            u = line.upper()
            if u.startswith(b"EHLO"):
                if b["hang"] == "ehlo":
                    return hang()
                if b["ehlo_reply"] is not None:
                    send(b["ehlo_reply"])
                    continue
                exts = list(b["ehlo"])
                if b["tls"] is not None and not state["tls"]:
                    exts.append(b"STARTTLS")
                out = b"250-peer.test hello\r\n"
                for i, e in enumerate(exts):
                    out += (b"250 " if i == len(exts) - 1 else b"250-") + e + b"\r\n"
                if not exts:
                    out = b"250 peer.test hello\r\n"
                send(out)
            elif u.startswith(b"HELO"):
                send(b["helo_reply"])
            elif u.startswith(b"STARTTLS"):
                send(b["starttls_reply"])
                if not b["starttls_reply"].startswith(b"220"):
                    continue
                if b["tls_break"]:
                    send(b"this is not TLS\r\n" * 4)
                    return
                state["buf"] = b""
                state["sock"] = b["tls"].wrap_socket(c, server_side=True)
                state["tls"] = True
            elif u.startswith(b"MAIL"):
                mail, rcpts = line, []
                send(b["mail"](line) if callable(b["mail"]) else b["mail"])
            elif u.startswith(b"RCPT"):
                if b["hang"] == "rcpt":
                    return hang()
                addr = line[line.index(b"<") + 1:line.rindex(b">")].decode("utf-8", "replace")
                r = b["rcpt"](addr) if b["rcpt"] else b"250 2.1.5 ok\r\n"
                if r.startswith(b"2"):
                    rcpts.append(addr)
                send(r)
            elif u.startswith(b"DATA"):
                send(b["data"])
                # any 3xx is "go ahead" (RFC 5321 4.2.1)
                if not b["data"].startswith(b"3"):
                    continue
                body = b""
                k = 0
                while True:
                    l = readline()
                    if l is None:
                        return
                    k += 1
                    if b["drop"] == "data" and k >= 2:
                        return
                    if l == b".\r\n":
                        break
                    body += l
                if b["hang"] == "dataend":
                    return hang()
                if b["dataend_delay"]:
                    time.sleep(b["dataend_delay"])
                reply = b["dataend_fn"](mail, rcpts, body) if b["dataend_fn"] else b["dataend"]
                if reply.startswith(b"2"):
                    self.messages.append((mail, rcpts, body, state["tls"]))
                send(reply)
            elif u.startswith(b"RSET") or u.startswith(b"NOOP"):
                send(b"250 2.0.0 ok\r\n")
            elif u.startswith(b"QUIT"):
                send(b"221 2.0.0 bye\r\n")
                return
            else:
                send(b"502 5.5.2 what\r\n")
