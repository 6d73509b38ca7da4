#!/usr/bin/env python3
"""facteur-smtpd under tcpserver on loopback with real clients: Python's
smtplib and swaks, a pipelined raw socket, first into the stand-in queue,
then end to end into the real facteur-queue."""
import importlib.util
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

st = ft.data_module("smtpdt", "smtpd-tlib.py")

t = ft.TAP()
if not os.path.exists(ft.bin_path("facteur-smtpd")):
    t.skip_all("bin/facteur-smtpd not built")
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver (ucspi-tcp) not installed")
home, q = st.instance()
base = os.path.dirname(home)
log = os.path.join(base, "smtpd.log")
env = ft.env_for(home, FACTEUR_QUEUE=st.FAKEQ, FAKEQ_DIR=q, RELAYCLIENT=None,
                 FACTEUR_TLSCTL="", FACTEUR_TLS=None)
srv, port = ft.tcpserver([ft.bin_path("facteur-smtpd")], home, env=env, log=log)

# --- smtplib ---
with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
    code, msg = c.ehlo("client.example")
    t.is_(code, 250, "smtplib EHLO")
    t.ok(c.has_extn("pipelining") and c.has_extn("chunking") and c.has_extn("size"),
         "extensions seen by smtplib")
    refused = c.sendmail("bob@remote.test", ["alice@example.org"],
                         b"Subject: via smtplib\r\n\r\nHello from smtplib.\r\n.leading dot\r\n")
    t.is_(refused, {}, "smtplib: message accepted")
    try:
        c.sendmail("bob@remote.test", ["nobody@example.org"], b"Subject: x\r\n\r\nx\r\n")
        t.ok(False, "unknown user refused")
    except smtplib.SMTPRecipientsRefused as e:
        t.is_(e.recipients["nobody@example.org"][0], 550, "unknown user refused at RCPT (550)")
    try:
        c.sendmail("bob@remote.test", ["someone@remote.test"], b"Subject: x\r\n\r\nx\r\n")
        t.ok(False, "relay refused")
    except smtplib.SMTPRecipientsRefused as e:
        t.is_(e.recipients["someone@remote.test"][0], 554, "relay refused at RCPT (554)")
m = st.queued(q)
t.is_(len(m), 1, "one message in the stand-in queue")
t.ok(m and m[0][1] == b"Fbob@remote.test\0Talice@example.org\0\0", "its envelope")
t.ok(m and b"Received: from client.example ([127.0.0.1])" in m[0][0] and
     st.body(m[0][0]).endswith(b"Hello from smtplib.\r\n.leading dot\r\n"), "its header and body")

# --- swaks ---
st.clear(q)
if shutil.which("swaks"):
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "carol@remote.test",
                        "--to", "alice@example.org", "--helo", "swaks.example", "--h-Subject", "via swaks",
                        "--body", "Hello from swaks."], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    t.is_(p.returncode, 0, "swaks exits 0")
    m = st.queued(q)
    t.ok(len(m) == 1 and b"Subject: via swaks" in m[0][0] and m[0][1].startswith(b"Fcarol@remote.test\0"),
         "swaks message queued")
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "carol@remote.test",
                        "--to", "victim@remote.test", "--quit-after", "RCPT"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    t.ok(p.returncode != 0 and b"554 5.7.1" in p.stdout, "swaks open-relay probe refused")
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "carol@remote.test",
                        "--to", "alice@example.org", "--pipeline", "--body", "pipelined"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.is_(p.returncode, 0, "swaks --pipeline")
else:
    for i in range(4):
        t.ok(True, "# SKIP swaks not installed")

# --- a raw socket sending everything in one packet ---
st.clear(q)
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(b"EHLO raw\r\nMAIL FROM:<d@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
          b"Subject: raw\r\n\r\nraw\r\n.\r\nMAIL FROM:<e@remote.test>\r\nRCPT TO:<alice@example.org>\r\n"
          b"BDAT 21 LAST\r\nSubject: bdat\r\n\r\nxy\r\nQUIT\r\n")
data = b""
end = time.time() + 15
while time.time() < end:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
s.close()
t.is_(st.codes(data), ["220", "250", "250", "250", "354", "250", "250", "250", "250", "221"],
      "pipelined DATA then BDAT over TCP")
t.is_(len(st.queued(q)), 2, "both messages queued")
srv.stop()
with open(log, "rb") as f:
    logtext = f.read()
t.ok(b"facteur-smtpd: session ip=127.0.0.1" in logtext and b"result=250 2.0.0 queued" in logtext,
     "connection and message log lines under tcpserver")

# --- end to end into the real facteur-queue ---
if not os.path.exists(ft.bin_path("facteur-queue")):
    for i in range(3):
        t.ok(True, "# SKIP bin/facteur-queue not built")
else:
    env = ft.env_for(home, FACTEUR_QUEUE=None, RELAYCLIENT=None, FACTEUR_TLSCTL="", FACTEUR_TLS=None)
    srv2, port2 = ft.tcpserver([ft.bin_path("facteur-smtpd")], home, env=env, log=log)
    marker = b"end-to-end-%d" % os.getpid()
    with smtplib.SMTP("127.0.0.1", port2, timeout=20) as c:
        refused = c.sendmail("bob@remote.test", ["alice@example.org"],
                             b"Subject: " + marker + b"\r\n\r\nthrough facteur-queue\r\n")
    t.is_(refused, {}, "accepted through facteur-queue")

    def find():
        for d, _, files in os.walk(os.path.join(home, "queue")):
            for n in files:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        if marker in f.read():
                            return True
                except OSError:
                    pass
        for d, _, files in os.walk(os.path.join(home, "mail")):
            for n in files:
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        if marker in f.read():
                            return True
                except OSError:
                    pass
        return False
    t.ok(ft.wait_for(find, timeout=5), "the message is in queue/ (or already delivered)")
    # and on to alice's Maildir, when the queue manager is there
    if os.path.exists(ft.bin_path("facteur-send")) and os.path.exists(ft.bin_path("facteur-local")):
        sender = ft.start([ft.bin_path("facteur-send")], ft.env_for(home))
        md = os.path.join(home, "mail", "example.org", "alice")
        got = ft.wait_for(lambda: [m for m in ft.maildir_messages(md) if marker in m], timeout=10)
        t.ok(got and b"Received: from " in got[0], "delivered into alice's Maildir by facteur-send")
        sender.stop()
    else:
        t.ok(True, "# SKIP facteur-send or facteur-local not built")
    srv2.stop()
