#!/usr/bin/env python3
"""facteur-newaliases: control/aliases -> aliases.cdb (lib/users.h
format): full and bare keys, several targets, continuation lines,
comments, lowercasing; every kind of bad line refused with its line
number, and the old aliases.cdb kept."""
import os
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import ft

t = ft.TAP()
home = ft.make_instance(domains=("example.org", "example.net"), users=())
c = os.path.join(home, "control")
CDB = c + "/aliases.cdb"


def write(s):
    with open(c + "/aliases", "w") as f:
        f.write(s)


def newaliases():
    return ft.run("facteur-newaliases", [], home=home)


def q(key):
    r = subprocess.run(["cdb", "-q", CDB, key], stdout=subprocess.PIPE)
    return r.stdout if r.returncode == 0 else None


def dump():
    return subprocess.run(["cdb", "-d", CDB], stdout=subprocess.PIPE).stdout


write("""# a comment
postmaster: alice@example.org
Info@Example.ORG: alice@example.org, Bob@Remote.Example.COM ,carol@example.net
team: alice@example.org,
  bob@example.net
\t# an indented comment inside the entry
  carol@example.net, alice@example.org

abuse@example.net : root@example.org
""")
rc, out, err = newaliases()
t.is_(rc, 0, "newaliases exits 0 (%r)" % err)
t.is_(q("postmaster"), b"alice@example.org\0", "bare postmaster alias")
t.is_(q("info@example.org"), b"alice@example.org\0Bob@remote.example.com\0carol@example.net\0",
      "full key lowercased, three targets in order, target domains lowercased")
t.is_(q("team"), b"alice@example.org\0bob@example.net\0carol@example.net\0",
      "continuation lines joined, duplicates dropped, trailing comma ignored")
t.is_(q("abuse@example.net"), b"root@example.org\0", "space before the colon")
t.is_(q("Info@Example.ORG"), None, "keys are stored lowercase only")
good = dump()

bad = [("nocolon alice@example.org\n", "no ':'", 1),
       ("# c\n\nx@example.com: alice@example.org\n", "not in a local domain", 3),
       ("x: alice\n", "no '@domain'", 1),
       ("x: a/b@example.org\n", "'/'", 1),
       ("x: alice@[127.0.0.1]\n", "literal", 1),
       ("x: \"a b\"@example.org\n", "dot-atom", 1),
       ("x: a@example.org\nx: b@example.org\n", "listed twice", 2),
       ("X: a@example.org\nx: b@example.org\n", "listed twice", 2),
       ("x@example.org: x@example.org\n", "points to itself", 1),
       ("x: x@example.net\n", "points to itself", 1),
       ("x@example.org: X@Example.org\n", "points to itself", 1),
       ("x:\n", "no target", 1),
       ("x: , ,\n", "no target", 1),
       (": a@example.org\n", "empty alias", 1),
       ("  a@example.org\n", "continuation line without", 1),
       ("x.: a@example.org\n", "starts or ends", 1),
       ("x: a@exa_mple.org\n", "host name", 1),
       ("x: a@example.org\x00\n", "NUL", 1),
       ("a: b@example.org\nx: \x01@example.org\n", "dot-atom", 2)]
for text, why, line in bad:
    write(text)
    rc, out, err = newaliases()
    t.ok(rc == 65 and why.encode() in err and (b"line %d:" % line) in err,
         "refused %r (%d %r)" % (text[:30], rc, err[:120]))
    t.is_(dump(), good, "  the old aliases.cdb stays")

big = "x: " + ", ".join("u%d@example.org" % i for i in range(1001)) + "\n"
write(big)
t.is_(newaliases()[0], 65, "more than 1000 targets refused")
write("")
t.is_(newaliases()[0], 0, "an empty file compiles")
t.is_(dump(), b"\n", "into an empty map")
os.unlink(c + "/aliases")
t.is_(newaliases()[0], 0, "a missing file compiles to an empty map")
t.is_(ft.run("facteur-newaliases", ["x"], home=home)[0], 64, "arguments are a usage error")
t.ok(not [f for f in os.listdir(c) if f.endswith(".tmp")], "no temporary file left")
