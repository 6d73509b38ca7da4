#!/usr/bin/env python3
"""facteur-remote delivering to a real Postfix (Debian's) on a loopback
port with its own configuration directory: a known recipient lands in
Postfix's Maildir, an unknown one gets Postfix's 550 5.1.1, STARTTLS is
used (Postfix's Received header says so), PIPELINING is used, and a
message over Postfix's SIZE is refused with 5.3.4 before MAIL. And the
other way: Postfix relays a message to facteur-smtpd (tcpserver, with
facteur-send and facteur-local behind it) into alice's Maildir."""
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

rl = ft.data_module("remotelib", "remote-lib.py")

t = rl.tap()
if os.geteuid() != 0:
    t.skip_all("not root: Postfix's master needs root")
if not shutil.which("postfix") and not os.path.exists("/usr/sbin/postfix"):
    t.skip_all("Postfix is not installed")
try:
    pw = pwd.getpwnam("postfix")
except KeyError:
    t.skip_all("no postfix user")

top = ft.tempdir()
os.chmod(top, 0o755)
pf = os.path.join(top, "postfix")
etc = os.path.join(pf, "etc")
for d in ("etc", "spool", "data", "mail"):
    os.makedirs(os.path.join(pf, d))
for d in ("data", "mail"):
    os.chown(os.path.join(pf, d), pw.pw_uid, pw.pw_gid)
os.chmod(pf, 0o755)
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", os.path.join(etc, "key.pem"), "-out", os.path.join(etc, "cert.pem"), "-days", "2",
                "-subj", "/CN=pf.example.net"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
port = ft.free_port()
port8 = ft.free_port()      # a second smtpd, without SMTPUTF8
# a facteur instance Postfix relays facteur.test to (facteur receiving)
fhome = ft.make_instance(hostname="mx.facteur.test", domains=("facteur.test",),
                         users=(("alice@facteur.test", "alice-pw"),), home=os.path.join(top, "facteur"))
fsend = ft.start([ft.bin_path("facteur-send")], ft.env_for(fhome))
fsrv, fport = ft.tcpserver([ft.bin_path("facteur-smtpd")], fhome)
with open(os.path.join(etc, "main.cf"), "w") as f:
    f.write("""compatibility_level = 3.6
queue_directory = {pf}/spool
data_directory = {pf}/data
myhostname = pf.example.net
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = example.net, xn--bcher-kva.example.net
virtual_mailbox_base = {pf}/mail
virtual_mailbox_maps = inline:{{ bob@example.net=example.net/bob/, carol@example.net=example.net/carol/,
  anna@xn--bcher-kva.example.net=example.net/anna/ }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
message_size_limit = 20000
smtpd_tls_security_level = may
smtpd_tls_cert_file = {etc}/cert.pem
smtpd_tls_key_file = {etc}/key.pem
smtpd_tls_received_header = yes
maillog_file_prefixes = /tmp
maillog_file = {pf}/maillog
relay_domains = facteur.test
transport_maps = inline:{{ facteur.test=smtp:[127.0.0.1]:{fport} }}
smtp_tls_security_level = may
""".format(pf=pf, etc=etc, uid=pw.pw_uid, gid=pw.pw_gid, fport=fport))
master = []
master_src = "/etc/postfix/master.cf"
if not os.path.exists(master_src):
    master_src = "/usr/share/postfix/master.cf.dist"
if not os.path.exists(master_src):
    t.skip_all("no Postfix master.cf to start from")
with open(master_src) as f:
    for line in f:
        fields = line.split()
        if fields and fields[0] == "smtp" and fields[1] == "inet":
            line = ("127.0.0.1:%d inet n - n - - smtpd\n" % port +
                    "127.0.0.1:%d inet n - n - - smtpd -o smtputf8_enable=no\n" % port8)
        elif fields and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            fields[4] = "n"          # no chroot: this spool is not set up for it
            line = " ".join(fields) + "\n"
        master.append(line)
master.append("postlog unix-dgram n - n - 1 postlogd\n")
with open(os.path.join(etc, "master.cf"), "w") as f:
    f.writelines(master)


def alt_dirs():
    return subprocess.run(["postconf", "-h", "alternate_config_directories"],
                          capture_output=True, text=True).stdout.split()


# `postfix -c` wants the directory listed in the default configuration;
# take only our own entry out again at the end
r = subprocess.run(["postconf", "-e", "alternate_config_directories = " + " ".join(alt_dirs() + [etc])],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if r.returncode != 0:
    t.skip_all("postconf -e failed: %s" % r.stdout.decode(errors="replace").strip()[:200])


def stop_postfix():
    subprocess.run(["postfix", "-c", etc, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["postconf", "-e", "alternate_config_directories = " + " ".join(d for d in alt_dirs() if d != etc)])


ft._cleanups.append(stop_postfix)
r = subprocess.run(["postfix", "-c", etc, "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if r.returncode != 0 or not ft.wait_port(port, timeout=20):
    t.skip_all("Postfix did not start: %s" % r.stdout.decode(errors="replace").strip().replace("\n", " ")[:200])

inst = rl.Instance(top)
for name, text in (("me", "facteur.test\n"), ("remotetimeout", "20\n"),
                   ("smtproutes", "example.net 127.0.0.1:%d\n" % port)):
    inst.control(name, text)


def remote(rcpts, msg):
    return inst.remote(["example.net", "alice@facteur.test"] + rcpts, msg, timeout=60)


MSG = b"From: alice@facteur.test\nTo: bob@example.net\nSubject: to postfix\n\nhello Postfix\n.a dot line\n"
rc, lines, err = remote(["bob@example.net", "nobody@example.net", "carol@example.net"], MSG)
t.is_(rc, 0, "exit 0")
t.is_([l[1] for l in lines], ["2", "5", "2"], "bob and carol delivered, nobody refused")
t.ok(len(lines) == 3 and "550 5.1.1" in lines[1][2], "Postfix's 550 5.1.1 quoted")
t.ok("TLS with" in err, "STARTTLS used with Postfix")


def maildir(user):
    return ft.wait_for(lambda: ft.maildir_messages(os.path.join(pf, "mail", "example.net", user)), timeout=15)


got = maildir("bob")
t.is_(len(got or []), 1, "one message in bob's Maildir")
if got:
    m = got[0]
    t.ok(b"hello Postfix" in m and b"\n.a dot line\n" in m, "body intact, dot-stuffing undone by Postfix")
    t.ok(b"(using TLSv1." in m, "Postfix's Received header shows TLS")
    t.ok(b"from facteur.test" in m, "EHLO name in Received")
t.is_(len(maildir("carol") or []), 1, "one message in carol's Maildir")

big = b"Subject: big\n\n" + (b"x" * 70 + b"\n") * 400
rc, lines, err = remote(["bob@example.net"], big)
t.ok(lines and lines[0][1] == "5" and lines[0][2].startswith("5.3.4"), "over Postfix's SIZE: 5.3.4")

# and the other way: Postfix relays to facteur-smtpd
import smtplib
try:
    c = smtplib.SMTP("127.0.0.1", port, timeout=20)
    c.sendmail("bob@example.net", ["alice@facteur.test"],
               b"From: bob@example.net\r\nTo: alice@facteur.test\r\nSubject: from postfix\r\n\r\nhi facteur\r\n")
    c.quit()
    t.ok(True, "Postfix took a message for facteur.test")
except (OSError, smtplib.SMTPException) as e:
    t.ok(False, "Postfix took a message for facteur.test: %s" % e)
got = ft.wait_for(lambda: ft.maildir_messages(os.path.join(fhome, "mail", "facteur.test", "alice")), timeout=20)
t.is_(len(got or []), 1, "alice@facteur.test got the message Postfix relayed")
if got:
    t.ok(b"hi facteur" in got[0] and b"from pf.example.net" in got[0], "relayed by Postfix (its EHLO in Received)")
    t.ok(b"ESMTPS" in got[0], "Postfix used STARTTLS with facteur-smtpd")
else:
    try:
        with open(os.path.join(pf, "maillog"), "rb") as f:
            t.diag(f.read().decode(errors="replace")[-2000:])
    except OSError:
        pass

# a UTF-8 domain to a Postfix without SMTPUTF8 (smtputf8_enable=no): the
# addresses go by their A-labels, which Postfix knows; a UTF-8 local part
# cannot go and gets 5.6.7
inst.control("smtproutes", "b\u00fccher.example.net 127.0.0.1:%d\n" % port8)
rc, lines, err = inst.remote(["b\u00fccher.example.net", "alice@facteur.test",
                              "anna@b\u00fccher.example.net", "j\u00f6rg@b\u00fccher.example.net"],
                             b"Subject: idn\n\nto the A-labels\n", timeout=60)
t.is_([l[1] for l in lines], ["2", "5"], "to Postfix without SMTPUTF8: anna delivered, j\u00f6rg refused")
t.ok(len(lines) == 2 and lines[1][2].startswith("5.6.7 "), "with 5.6.7")
got = maildir("anna")
t.is_(len(got or []), 1, "anna@xn--bcher-kva.example.net's Maildir has it")
t.ok(got and b"to the A-labels" in got[0] and b"anna@xn--bcher-kva.example.net" in got[0],
     "Postfix saw the A-label address")
