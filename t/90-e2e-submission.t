#!/usr/bin/env python3
"""End to end with Thunderbird-equivalent settings, in the deployment form
(tcpserver in front of each port). Host A (a.test) runs submission on 587
(`facteur-tlsd facteur-smtpd -s`, STARTTLS then AUTH), 465
(`facteur-smtpd -t -s`) and 25 (`facteur-tlsd facteur-smtpd`), with
facteur-send; control/smtproutes sends b.test to host B, a second facteur
instance (facteur-smtpd, facteur-send, facteur-local). Authenticated
submissions from alice@a.test (smtplib STARTTLS+login, SMTP_SSL, swaks
--tls AUTH PLAIN, swaks --tlsc AUTH LOGIN) reach carol's Maildir at B
through facteur-queue, facteur-send and facteur-remote; carol reads them
with imaplib (STARTTLS, IMAP4_SSL) and poplib (stls, POP3_SSL) as a
non-loopback client. Refused: submission without AUTH (530 5.7.0), AUTH
before STARTTLS from a remote client (538 5.7.11), sending as another
user's address (553 5.7.1), an open-relay probe on 25 (554 5.7.1),
plaintext IMAP LOGIN (LOGINDISABLED) and POP3 USER. As root, the users
the processes run as are checked with ps (doc/DESIGN.md's table)."""
import atexit
import imaplib
import os
import poplib
import pwd
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft  # noqa: E402

t = ft.TAP()


def _stop_first():
    # TAP's exit hook leaves with os._exit on a failure: stop our servers first
    ft._cleanup()
    del ft._cleanups[:]


atexit.register(_stop_first)
for prog in ("facteur-smtpd", "facteur-tlsd", "facteur-tlsd-tls", "facteur-send", "facteur-remote",
             "facteur-local", "facteur-queue", "facteur-imapd", "facteur-pop3d", "facteur-checkpassword"):
    if not os.path.exists(ft.bin_path(prog)):
        t.skip_all("bin/%s not built" % prog)
if not shutil.which("tcpserver"):
    t.skip_all("tcpserver (ucspi-tcp) not installed")

REMOTE_IP = "192.0.2.9"         # what a client from the Internet looks like
WAIT = 30.0                     # seconds for a message to cross both queues

top = ft.tempdir()
os.chmod(top, 0o755)
home_a = ft.make_instance(hostname="mx.a.test", domains=("a.test",),
                          users=(("alice@a.test", "alice-pw"), ("bob@a.test", "bob-pw")),
                          home=os.path.join(top, "a"))
home_b = ft.make_instance(hostname="mx.b.test", domains=("b.test",),
                          users=(("carol@b.test", "carol-pw"),), home=os.path.join(top, "b"))
if not os.path.exists(os.path.join(home_a, "control", "tls", "cert.pem")):
    t.skip_all("facteur-setup made no certificate")
log_a = os.path.join(top, "a.log")
log_b = os.path.join(top, "b.log")
env_a = ft.env_for(home_a, RELAYCLIENT=None, FACTEUR_QUEUE=None, FACTEUR_TLSCTL=None, FACTEUR_TLS=None)
env_b = ft.env_for(home_b, RELAYCLIENT=None, FACTEUR_QUEUE=None, FACTEUR_TLSCTL=None, FACTEUR_TLS=None)

# --- host B: port 25 and its queue; IMAP and POP3 as seen from the Internet
send_b = ft.start([ft.bin_path("facteur-send")], env_b, stderr=open(log_b, "ab"))
srv_b25, port_b25 = ft.tcpserver([ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-smtpd")],
                                 home_b, env=env_b, log=log_b)
remote = ["env", "TCPREMOTEIP=" + REMOTE_IP]
_, port_imap = ft.tcpserver(remote + [ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-imapd")],
                            home_b, env=env_b, log=log_b)
srv_imaps, port_imaps = ft.tcpserver(remote + [ft.bin_path("facteur-imapd"), "-t"], home_b, env=env_b,
                                     log=log_b)
_, port_pop3 = ft.tcpserver(remote + [ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-pop3d")],
                            home_b, env=env_b, log=log_b)
_, port_pop3s = ft.tcpserver(remote + [ft.bin_path("facteur-pop3d"), "-t"], home_b, env=env_b, log=log_b)

# --- host A: b.test routed to B, submission ports, port 25
with open(os.path.join(home_a, "control", "smtproutes"), "w") as f:
    f.write("b.test 127.0.0.1:%d\n" % port_b25)
os.chmod(os.path.join(home_a, "control", "smtproutes"), 0o644)
send_a = ft.start([ft.bin_path("facteur-send")], env_a, stderr=open(log_a, "ab"))
srv_587, port_587 = ft.tcpserver(remote + [ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-smtpd"), "-s"],
                                 home_a, env=env_a, log=log_a)
_, port_465 = ft.tcpserver(remote + [ft.bin_path("facteur-smtpd"), "-t", "-s"], home_a, env=env_a, log=log_a)
_, port_25 = ft.tcpserver(remote + [ft.bin_path("facteur-tlsd"), ft.bin_path("facteur-smtpd")],
                          home_a, env=env_a, log=log_a)

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
carol_new = os.path.join(home_b, "mail", "b.test", "carol")


def msg(subject):
    return ("From: alice@a.test\r\nTo: carol@b.test\r\nSubject: %s\r\n"
            "Message-ID: <%s@a.test>\r\n\r\nbody of %s\r\n" % (subject, subject, subject)).encode()


def arrived():
    return ft.maildir_messages(carol_new, "new") + ft.maildir_messages(carol_new, "cur")


def has_subject(subject):
    return lambda: any(("Subject: %s\r\n" % subject).encode() in m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                       for m in arrived())


# --- 587: STARTTLS, then AUTH, relays to b.test
with smtplib.SMTP("127.0.0.1", port_587, timeout=20) as c:
    c.ehlo("laptop.example")
    t.ok(c.has_extn("starttls") and not c.has_extn("auth"),
         "587 before TLS, remote client: STARTTLS offered, AUTH not")
    code, _ = c.docmd("AUTH", "PLAIN AGFsaWNlQGEudGVzdABhbGljZS1wdw==")
    t.is_(code, 538, "587: AUTH before STARTTLS from a remote client: 538 (5.7.11)")
    code, _ = c.starttls(context=ctx)
    t.is_(code, 220, "587: STARTTLS")
    c.ehlo("laptop.example")
    t.ok(c.has_extn("auth") and "PLAIN" in c.esmtp_features.get("auth", "").upper(),
         "587 after TLS: AUTH PLAIN offered")
    code, _ = c.login("alice@a.test", "alice-pw")
    t.is_(code, 235, "587: AUTH as alice")
    refused = c.sendmail("alice@a.test", ["carol@b.test"], msg("via-587"))
    t.is_(refused, {}, "587: message to the remote domain accepted")
    code, text = c.docmd("MAIL", "FROM:<bob@a.test>")
    t.ok(code == 553 and text.startswith(b"5.7.1"), "587: alice sending as bob: 553 5.7.1 (%d %r)" % (code, text))
    c.rset()

# the same without AUTH
with smtplib.SMTP("127.0.0.1", port_587, timeout=20) as c:
    c.ehlo("laptop.example")
    c.starttls(context=ctx)
    c.ehlo("laptop.example")
    code, text = c.docmd("MAIL", "FROM:<alice@a.test>")
    t.ok(code == 530 and text.startswith(b"5.7.0"), "587 without AUTH: 530 5.7.0 (%d %r)" % (code, text))

# a wrong password costs the client
with smtplib.SMTP("127.0.0.1", port_587, timeout=20) as c:
    c.ehlo("laptop.example")
    c.starttls(context=ctx)
    c.ehlo("laptop.example")
    try:
        c.login("alice@a.test", "wrong")
        t.ok(False, "587: wrong password refused")
    except smtplib.SMTPAuthenticationError as e:
        t.ok(e.smtp_code == 535, "587: wrong password refused (535)")

# --- 465: implicit TLS
with smtplib.SMTP_SSL("127.0.0.1", port_465, timeout=20, context=ctx) as c:
    c.ehlo("laptop.example")
    t.ok(c.has_extn("auth") and not c.has_extn("starttls"), "465: AUTH offered at once, no STARTTLS")
    code, _ = c.login("alice@a.test", "alice-pw")
    t.is_(code, 235, "465: AUTH as alice")
    refused = c.sendmail("alice@a.test", ["carol@b.test"], msg("via-465"))
    t.is_(refused, {}, "465: message to the remote domain accepted")
with smtplib.SMTP_SSL("127.0.0.1", port_465, timeout=20, context=ctx) as c:
    c.ehlo("laptop.example")
    code, text = c.docmd("MAIL", "FROM:<alice@a.test>")
    t.ok(code == 530 and text.startswith(b"5.7.0"), "465 without AUTH: 530 5.7.0")

# --- 25: an open-relay probe from an unauthenticated client
with smtplib.SMTP("127.0.0.1", port_25, timeout=20) as c:
    c.ehlo("probe.example")
    c.starttls(context=ctx)
    c.ehlo("probe.example")
    code, _ = c.docmd("MAIL", "FROM:<spammer@evil.example>")
    t.is_(code, 250, "25: MAIL from anyone")
    code, text = c.docmd("RCPT", "TO:<carol@b.test>")
    t.ok(code == 554 and text.startswith(b"5.7.1"), "25: relay to b.test refused: 554 5.7.1 (%d %r)" % (code, text))
    code, text = c.docmd("RCPT", "TO:<victim%example.net@a.test>")
    t.ok(code >= 500, "25: %%-hack relay refused (%d)" % code)

# --- swaks: --tls with AUTH PLAIN on 587, --tlsc with AUTH LOGIN on 465
if shutil.which("swaks"):
    for subject, port, tlsopt, mech in (("swaks-plain", port_587, "--tls", "PLAIN"),
                                         ("swaks-login", port_465, "--tlsc", "LOGIN")):
        p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), tlsopt,
                            "--auth", mech, "--auth-user", "alice@a.test", "--auth-password", "alice-pw",
                            "--from", "alice@a.test", "--to", "carol@b.test", "--h-Subject", subject,
                            "--body", "body of " + subject],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        t.is_(p.returncode, 0, "swaks %s --auth %s: relayed" % (tlsopt, mech))
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port_587), "--tls",
                        "--auth", "LOGIN", "--auth-user", "alice@a.test", "--auth-password", "alice-pw",
                        "--from", "bob@a.test", "--to", "carol@b.test", "--quit-after", "MAIL"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.ok(b"553 5.7.1" in p.stdout, "swaks: alice as bob: 553 5.7.1")
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port_25),
                        "--from", "spammer@evil.example", "--to", "victim@b.test", "--quit-after", "RCPT"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.ok(p.returncode != 0 and b"554 5.7.1" in p.stdout, "swaks open-relay probe on 25: 554 5.7.1")
    subjects = ("via-587", "via-465", "swaks-plain", "swaks-login")
else:
    for i in range(4):
        t.ok(True, "# SKIP swaks not installed")
    subjects = ("via-587", "via-465")

# --- the messages cross A's queue, facteur-remote, B's smtpd, B's queue
for s in subjects:
    t.ok(ft.wait_for(has_subject(s), timeout=WAIT), "%s arrived in carol's Maildir at B" % s)
msgs = arrived()
first = [m for m in msgs if b"Subject: via-587" in m]
t.ok(first and b"with ESMTPSA" in first[0] and b"Delivered-To: carol@b.test" in first[0],
     "the Received chain says ESMTPSA at A, Delivered-To at B")
t.ok(first and b"mx.b.test" in first[0] and b"mx.a.test" in first[0], "both hosts in the trace")


def a_queue_empty():
    rc, out, err = ft.run("facteur-qstat", [], home=home_a)
    return rc == 0 and b"carol@b.test" not in out


# B delivers once its smtpd has the message; A finishes it only after its
# facteur-remote has read the 250, said QUIT and been reaped, which can
# come later: ask A's queue until it has (no fixed wait, WAIT at most)
t.ok(ft.wait_for(a_queue_empty, timeout=WAIT), "A's queue is empty again")

# --- IMAP 143 STARTTLS, from a remote client
c = imaplib.IMAP4("127.0.0.1", port_imap, timeout=20)
t.ok("LOGINDISABLED" in c.capabilities and "STARTTLS" in c.capabilities,
     "IMAP 143 plaintext: LOGINDISABLED, STARTTLS")
try:
    c.login("carol@b.test", "carol-pw")
    t.ok(False, "IMAP plaintext LOGIN refused")
except imaplib.IMAP4.error as e:
    t.ok("PRIVACYREQUIRED" in str(e), "IMAP plaintext LOGIN refused (PRIVACYREQUIRED)")
typ, _ = c.starttls(ssl_context=ctx)
t.is_(typ, "OK", "IMAP STARTTLS")
typ, data = c.capability()
t.ok(b"LOGINDISABLED" not in data[0], "IMAP after TLS: LOGINDISABLED gone")
typ, _ = c.login("carol@b.test", "carol-pw")
t.is_(typ, "OK", "IMAP LOGIN after STARTTLS")
typ, data = c.select("INBOX", readonly=True)
t.ok(typ == "OK" and int(data[0]) == len(subjects), "IMAP INBOX holds the %d messages" % len(subjects))
typ, data = c.search(None, "SUBJECT", "via-587")
n = data[0].split() if typ == "OK" else []
typ, data = c.fetch(n[0], "(BODY.PEEK[])") if n else ("NO", [])
t.ok(typ == "OK" and b"body of via-587" in data[0][1], "IMAP FETCH of the submitted message")
c.logout()

# --- IMAPS 993
c = imaplib.IMAP4_SSL("127.0.0.1", port_imaps, ssl_context=ctx, timeout=20)
t.ok("LOGINDISABLED" not in c.capabilities, "IMAPS: login enabled at once")
typ, _ = c.login("carol@b.test", "carol-pw")
typ, data = c.select("INBOX", readonly=True)
t.ok(typ == "OK" and int(data[0]) == len(subjects), "IMAPS INBOX holds the messages")
c.logout()

# --- POP3 110 STLS, from a remote client
p = poplib.POP3("127.0.0.1", port_pop3, timeout=20)
caps = p.capa()
t.ok("STLS" in caps and "USER" not in caps, "POP3 110 plaintext: STLS offered, USER not")
try:
    p.user("carol@b.test")
    p.pass_("carol-pw")
    t.ok(False, "POP3 plaintext USER/PASS refused")
except poplib.error_proto as e:
    t.ok(b"plaintext" in e.args[0], "POP3 plaintext USER refused (%r)" % e.args[0])
p.stls(context=ctx)
t.ok("USER" in p.capa(), "POP3 after STLS: USER offered")
p.user("carol@b.test")
t.ok(p.pass_("carol-pw").startswith(b"+OK"), "POP3 login after STLS")
count, size = p.stat()
t.is_(count, len(subjects), "POP3 STAT counts the messages")
found = any(b"body of via-465" in b"\r\n".join(p.retr(i + 1)[1]) for i in range(count))
t.ok(found, "POP3 RETR of the SMTPS message")
p.quit()

# --- POP3S 995
p = poplib.POP3_SSL("127.0.0.1", port_pop3s, context=ctx, timeout=20)
p.user("carol@b.test")
t.ok(p.pass_("carol-pw").startswith(b"+OK"), "POP3S login")
count, size = p.stat()
t.is_(count, len(subjects), "POP3S STAT counts the messages")
p.quit()

# --- who runs what (doc/DESIGN.md), as root only
if os.geteuid() == 0:
    try:
        fac, tls = pwd.getpwnam("facteur").pw_uid, pwd.getpwnam("facteur-tls").pw_uid
    except KeyError:
        fac = tls = None

    def procs():
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,uid=,comm="], capture_output=True, text=True).stdout
        return [tuple(int(x) if i < 3 else x for i, x in enumerate(line.split(None, 3)))
                for line in out.splitlines() if line.strip()]

    def below(ps, pid):
        kids = [p for p in ps if p[1] == pid]
        return kids + [q for k in kids for q in below(ps, k[0])]

    c = smtplib.SMTP("127.0.0.1", port_587, timeout=20)
    c.ehlo("laptop.example")
    c.starttls(context=ctx)
    c.ehlo("laptop.example")
    c.login("alice@a.test", "alice-pw")
    ps = procs()
    sess = below(ps, srv_587.pid)
    eng = [p for p in sess if p[3].startswith("facteur-tlsd")]
    smtpd = [p for p in sess if p[3] == "facteur-smtpd"]
    t.ok(fac is not None and eng and all(p[2] == tls for p in eng),
         "587 session: the TLS engine runs as facteur-tls (%r)" % (eng,))
    t.ok(smtpd and all(p[2] == fac for p in smtpd), "587 session: facteur-smtpd runs as facteur (%r)" % (smtpd,))
    c.quit()
    i = imaplib.IMAP4_SSL("127.0.0.1", port_imaps, ssl_context=ctx, timeout=20)
    i.login("carol@b.test", "carol-pw")
    ps = procs()
    imap = [p for p in below(ps, srv_imaps.pid) if p[3] == "facteur-imapd"]
    t.ok(imap and all(p[2] == fac for p in imap), "IMAPS after login: facteur-imapd runs as facteur (%r)" % (imap,))
    i.logout()
    t.ok(all(p[2] == fac for p in below(ps, send_a.pid) + below(ps, send_b.pid)) and
         [p for p in ps if p[0] == send_a.pid and p[2] == fac],
         "facteur-send and its children run as facteur")
else:
    for i in range(4):
        t.ok(True, "# SKIP not root: no privilege drop to check")
