#!/usr/bin/env python3
"""make run (tools/run-demo), with FACTEUR_DEMO_OFFSET moving every port
and FACTEUR_DEMO_DIR the instance: it starts, says a busy port is busy
instead of hanging, delivers a message sent with swaks to the demo
user's Maildir, lets the demo user read it over POP3, and stops on
SIGINT leaving no process behind."""
import os
import poplib
import random
import re
import signal
import socket
import subprocess
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
PORTS = (2525, 2587, 2465, 2110, 2995, 2143, 2993, 2024)
need = [p for p in ("facteur-smtpd", "facteur-queue", "facteur-send", "facteur-local")
        if not os.access(ft.bin_path(p), os.X_OK)]
if need:
    t.skip_all("not built yet: " + " ".join(need))
if not subprocess.run(["sh", "-c", "command -v tcpserver && command -v swaks"], stdout=subprocess.DEVNULL).returncode == 0:
    t.skip_all("tcpserver or swaks missing (tools/deps installs them)")


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


offset = None
for _ in range(50):
    o = random.randrange(10000, 40000)
    if all(free(p + o) for p in PORTS):
        offset = o
        break
if offset is None:
    t.skip_all("no free set of demo ports found")

# something already listening on the LMTP port must be reported, not hang
busy = socket.socket()
busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
busy.bind(("127.0.0.1", 2024 + offset))
busy.listen(1)

d = ft.tempdir()
log = os.path.join(d, "log")
env = dict(os.environ, FACTEUR_DEMO_DIR=os.path.join(d, "run"), FACTEUR_DEMO_OFFSET=str(offset),
           FACTEUR_DEMO_LOG=log)
out_path = os.path.join(d, "out")
outf = open(out_path, "wb")
demo = subprocess.Popen(["sh", os.path.join(ft.SRC, "tools", "run-demo")], env=env, stdout=outf,
                        stderr=subprocess.STDOUT, start_new_session=True)


def kill_group():
    try:
        os.killpg(demo.pid, signal.SIGKILL)
    except OSError:
        pass


ft._cleanups.append(kill_group)
up = ft.wait_for(lambda: b"Ctrl-C" in open(out_path, "rb").read() or demo.poll() is not None, timeout=30)
text = open(out_path, "rb").read().decode(errors="replace")
t.ok(up and demo.poll() is None, "run-demo is up")
if demo.poll() is not None:
    t.diag(text)
t.ok("port %d is busy" % (2024 + offset) in text, "the busy LMTP port is reported")
m = re.search(r"password: (\S+)", text)
t.ok(m, "the demo password is printed")
password = m.group(1) if m else ""
t.ok("demo@example.test" in text and "swaks" in text, "it says how to connect")
t.ok(ft.wait_port(2525 + offset), "SMTP answers on its port")


def descendants(root):
    kids = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/stat" % pid) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(pid))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


started = descendants(demo.pid)
t.ok(len(started) >= 2, "it started servers (%d processes)" % len(started))

maildir = os.path.join(d, "run", "mail", "example.test", "demo")
token = "demo-%d" % random.randrange(1 << 30)
r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % (2525 + offset), "--to", "demo@example.test",
                    "--from", "tester@example.org", "--header", "Subject: " + token, "--body", "hello " + token],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
t.is_(r.returncode, 0, "swaks sends to the demo user")
if r.returncode:
    t.diag(r.stdout.decode(errors="replace")[-800:])
msgs = ft.wait_for(lambda: [m for m in ft.maildir_messages(maildir) + ft.maildir_messages(maildir, "cur")
                            if token.encode() in m], timeout=15)
t.ok(msgs, "the message is in the demo Maildir")

if os.access(ft.bin_path("facteur-pop3d"), os.X_OK) and ft.wait_port(2110 + offset, timeout=2):
    try:
        p = poplib.POP3("127.0.0.1", 2110 + offset, timeout=20)
        p.user("demo@example.test")
        p.pass_(password)
        n = p.stat()[0]
        body = b"\n".join(p.retr(n)[1]) if n else b""
        p.quit()
        t.ok(token.encode() in body, "the demo user reads it over POP3 with the printed password")
    except Exception as e:
        t.ok(False, "POP3 login with the demo password: %r" % e)
else:
    t.diag("facteur-pop3d not running: POP3 check skipped")

# implicit TLS and IMAP, when built: the demo's certificate is self-signed
import imaplib
import smtplib
import ssl
ctx = ssl.create_default_context(cafile=os.path.join(d, "run", "control", "tls", "cert.pem"))
if os.access(ft.bin_path("facteur-tlsd"), os.X_OK):
    try:
        s = smtplib.SMTP_SSL("localhost", 2465 + offset, context=ctx, timeout=20,
                             local_hostname="client.example.org")
        s.ehlo()
        s.login("demo@example.test", password)
        s.quit()
        t.ok(True, "SMTPS: TLS verified against the demo certificate, AUTH with the demo password")
    except Exception as e:
        t.ok(False, "SMTPS with AUTH: %r" % e)
if os.access(ft.bin_path("facteur-imapd"), os.X_OK) and ft.wait_port(2143 + offset, timeout=2):
    try:
        i = imaplib.IMAP4("127.0.0.1", 2143 + offset, timeout=20)
        i.login("demo@example.test", password)
        typ, data = i.select("INBOX")
        i.logout()
        t.ok(typ == "OK" and int(data[0]) >= 1, "IMAP: the demo user sees the message (%r)" % (data,))
    except Exception as e:
        t.ok(False, "IMAP login with the demo password: %r" % e)

demo.send_signal(signal.SIGINT)
try:
    rc = demo.wait(timeout=20)
except subprocess.TimeoutExpired:
    rc = None
t.is_(rc, 0, "SIGINT stops run-demo, exit 0")
time.sleep(0.5)
left = []
for pid in started:
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        if st != "Z":
            left.append(pid)
    except OSError:
        pass
t.is_(left, [], "no process it started is left")
busy.close()
