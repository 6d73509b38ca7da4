#!/usr/bin/env python3
"""Golden transcripts of facteur-remote: a peer that answers each command
with the next reply of t/data/remote-NAME.in; what facteur-remote sent
(commands and message, CRLF shown as line ends, the empty line as a
space) and the lines it printed must equal t/data/remote-NAME.ref."""
import glob
import importlib.util
import os
import socket
import sys
import threading
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

rl = ft.data_module("remotelib", "remote-lib.py")

t = rl.tap()
inst = rl.Instance()
for k, v in (("me", "facteur.test"), ("remotetimeout", "5")):
    inst.control(k, v + "\n")
MSG = b"Subject: golden\n\n.a dot\nline\n"
RCPTS = {"basic": ["bob@example.net", "nobody@example.net", "carol@example.net"],
         "helo": ["bob@example.net"], "mailrefused": ["bob@example.net", "carol@example.net"]}


def replies(path):
    """the .in file as a list of replies (each a list of lines)"""
    out, cur = [], []
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"#"):
                continue
            line = line.rstrip(b"\n")
            cur.append(line + b"\r\n")
            if len(line) == 3 or line[3:4] == b" ":
                out.append(cur)
                cur = []
    return out


def serve(sock, script, got):
    c, _ = sock.accept()
    c.settimeout(10)
    f = c.makefile("rb")
    # facteur-remote may hang up while a reply is on its way (a reset
    # then fails our send or our read): that ends the replies, and what
    # it sent before stays in got for the comparison, without a traceback
    peer = {"open": True}

    def reply(r):
        if peer["open"]:
            try:
                c.sendall(b"".join(r))
            except ConnectionError:
                peer["open"] = False

    def readline():
        try:
            return f.readline()
        except ConnectionError:
            return b""

    i = 0
    reply(script[i])
    i += 1
    indata = False
    while i < len(script):
        line = readline()
        if not line:
            break
        got.append(line)
        if indata:
            if line == b".\r\n":
                indata = False
            else:
                continue
        reply(script[i])
        if script[i][0].startswith(b"354"):
            indata = True
        i += 1
    while True:     # whatever comes after the script (nothing, normally)
        line = readline()
        if not line:
            break
        got.append(line)
    c.close()


for inf in sorted(glob.glob(os.path.join(ft.SRC, "t", "data", "remote-*.in"))):
    name = os.path.basename(inf)[len("remote-"):-3]
    script = replies(inf)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sock.settimeout(10)
    port = sock.getsockname()[1]
    got = []
    th = threading.Thread(target=serve, args=(sock, script, got), daemon=True)
    th.start()
    inst.control("smtproutes", "example.net 127.0.0.1:%d\n" % port)
    p = inst.run(["example.net", "alice@facteur.test"] + RCPTS.get(name, ["bob@example.net"]), MSG)
    th.join(15)
    sock.close()
    sent = b"".join(l[:-2] + b"\n" if l.endswith(b"\r\n") else l for l in got).replace(b"\n\n", b"\n \n")
    result = sent.decode("utf-8", "replace") + "--\n" + p.stdout.decode("utf-8", "replace")
    with open(inf[:-3] + ".ref") as f:
        want = f.read().replace("%PORT%", str(port)).replace("%SIZE%", str(len(MSG.replace(b"\n", b"\r\n"))))
    t.is_(p.returncode, 0, "%s: exit 0" % name)
    if not t.is_(result, want, "%s: transcript and results as in remote-%s.ref" % (name, name)):
        t.diag(p.stderr.decode(errors="replace"))
    t.ok(all(l.endswith(b"\r\n") for l in got), "%s: every line sent ends in CRLF" % name)
