"""bench/lib/mailgen.py: seeded, realistic Maildir messages for the benchmarks.

Writes message files straight into a Maildir's cur/ (no server involved),
owned by the uid/gid given, named as facteur-deliver and Dovecot name them
(",S=size,W=crlf-size:2,flags"), so that every run with the same seed makes
the same bytes. Trusts its caller (the bench scripts, run by hand as root)."""
import os
import random

FIRST = ["Alice", "Bob", "Chloé", "David", "Emma", "François", "Grace", "Hugo",
         "Inès", "Jules", "Karim", "Léa", "Marc", "Nina", "Oscar", "Paul",
         "Quentin", "Rose", "Sami", "Théo", "Ulla", "Victor", "Wen", "Yann", "Zoé"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit",
        "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel"]
DOMAINS = ["example.org", "example.net", "example.com", "lists.example.net",
           "mail.example.com", "corp.example"]
WORDS = ("the of and to in is that for it as with was on be by at this have from "
         "or one had not but what all were when we there can an your which their "
         "said if do will each about how up out them then she many some so these "
         "would other into has more her two like him see time could no make than "
         "first been its who now people my made over did down only way find use "
         "may water long little very after words called just where most know "
         "meeting report budget invoice schedule project release server mailbox "
         "deadline review quarterly draft minutes agenda travel contract update "
         "backup network printer holiday lunch coffee proposal figures customer").split()
SUBJ = ["Re: ", "Fwd: ", "", "", "", "[list] ", "Re: Re: "]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _person(r):
    f, last = r.choice(FIRST), r.choice(LAST)
    return '"%s %s" <%s.%s@%s>' % (f, last, f.lower().encode("ascii", "ignore").decode(),
                                   last.lower(), r.choice(DOMAINS))


def _paragraph(r, nwords):
    words = [r.choice(WORDS) for _ in range(nwords)]
    words[0] = words[0].capitalize()
    lines, cur = [], []
    for w in words:
        cur.append(w)
        if sum(len(x) + 1 for x in cur) > 66:
            lines.append(" ".join(cur))
            cur = []
    if cur:
        lines.append(" ".join(cur))
    return "\n".join(lines) + ".\n"


class Generator:
    """Builds message bodies from a pool of paragraphs made once: fast enough
    to write a gigabyte from Python, varied enough that bodies differ."""

    def __init__(self, seed=1):
        self.r = random.Random(seed)
        self.pool = [_paragraph(self.r, self.r.randint(20, 90)) for _ in range(3000)]
        self.b64 = []
        for _ in range(50):
            raw = bytes(self.r.getrandbits(8) for _ in range(self.r.randint(600, 3000)))
            import base64
            enc = base64.encodebytes(raw).decode()
            self.b64.append(enc)

    def text(self, size):
        out, n = [], 0
        while n < size:
            p = self.r.choice(self.pool)
            out.append(p)
            out.append("\n")
            n += len(p) + 1
        return "".join(out)

    def message(self, i, body_size=None, needle=None):
        """One message, as bytes with LF line ends; i makes the Message-ID."""
        r = self.r
        frm, to = _person(r), _person(r)
        day, mon, year = r.randint(1, 28), r.choice(MONTHS), r.choice((2023, 2024, 2025, 2026))
        hh, mm, ss = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
        date = "%s, %d %s %d %02d:%02d:%02d +0100" % (r.choice(DAYS), day, mon, year, hh, mm, ss)
        subj = r.choice(SUBJ) + " ".join(r.choice(WORDS) for _ in range(r.randint(2, 8)))
        size = body_size if body_size is not None else int(r.lognormvariate(7.6, 0.7))
        body = self.text(max(size, 80))
        if needle:
            lines = body.split("\n")
            k = r.randrange(len(lines))
            lines[k] = lines[k] + " " + needle
            body = "\n".join(lines)
        h = ["Return-Path: <%s>" % frm.split("<")[1].rstrip(">"),
             "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby mx.bench.test with ESMTPS id %08X\n\tfor <bench@example.org>; %s"
             % (r.randint(1, 9), r.choice(DOMAINS), r.randint(1, 9), r.choice(DOMAINS), r.randint(1, 254), r.getrandbits(32), date),
             "Received: from [198.51.100.%d] by smtp.%s with ESMTPSA; %s" % (r.randint(1, 254), r.choice(DOMAINS), date),
             "From: " + frm, "To: " + to]
        if r.random() < 0.3:
            h.append("Cc: %s, %s" % (_person(r), _person(r)))
        h += ["Subject: " + subj, "Date: " + date,
              "Message-ID: <%d.%08x@bench.test>" % (i, r.getrandbits(32))]
        if r.random() < 0.4:
            h.append("In-Reply-To: <%d.%08x@bench.test>" % (r.randint(1, i + 1), r.getrandbits(32)))
        h.append("MIME-Version: 1.0")
        kind = r.random()
        if kind < 0.6:
            h.append("Content-Type: text/plain; charset=utf-8")
            h.append("Content-Transfer-Encoding: 8bit")
            msg = "\n".join(h) + "\n\n" + body
        elif kind < 0.85:
            bnd = "alt-%08x" % r.getrandbits(32)
            h.append('Content-Type: multipart/alternative; boundary="%s"' % bnd)
            html = "<html><body><p>" + body.replace("\n\n", "</p>\n<p>") + "</p></body></html>\n"
            msg = ("\n".join(h) + "\n\nThis is a multi-part message in MIME format.\n\n--%s\n"
                   "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n--%s\n"
                   "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n--%s--\n"
                   % (bnd, body, bnd, html, bnd))
        else:
            bnd = "mix-%08x" % r.getrandbits(32)
            h.append('Content-Type: multipart/mixed; boundary="%s"' % bnd)
            att = r.choice(self.b64)
            msg = ("\n".join(h) + "\n\n--%s\nContent-Type: text/plain; charset=utf-8\n\n%s\n--%s\n"
                   "Content-Type: application/pdf; name=\"doc%d.pdf\"\nContent-Disposition: attachment; filename=\"doc%d.pdf\"\n"
                   "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n" % (bnd, body, bnd, i, i, att, bnd))
        return msg.encode("utf-8")


def write_maildir(maildir, count, uid, gid, seed=1, flags=None, body_size=None,
                  needles=None, t0=1764000000, max_bytes=None):
    """Writes count messages into maildir/cur, or fewer once max_bytes are
    written; returns (bytes, messages) written. flags(i) gives the Maildir
    flags of message i; needles maps i to a word put in that message's body
    (for SEARCH BODY)."""
    g = Generator(seed)
    for sub in ("cur", "new", "tmp"):
        d = os.path.join(maildir, sub)
        os.makedirs(d, exist_ok=True)
        os.chown(d, uid, gid)
    os.chown(maildir, uid, gid)
    cur = os.path.join(maildir, "cur")
    total = 0
    i = 0
    for i in range(count):
        if max_bytes is not None and total >= max_bytes:
            return total, i
        data = g.message(i, body_size=body_size, needle=(needles or {}).get(i))
        crlf = len(data) + data.count(b"\n")
        fl = flags(i) if flags else "S"
        name = "%d.M%dP%d.bench.test,S=%d,W=%d:2,%s" % (t0 + i, i, 4242, len(data), crlf, fl)
        fd = os.open(os.path.join(cur, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fchown(fd, uid, gid)
            os.utime(fd, (t0 + i, t0 + i))
        finally:
            os.close(fd)
        total += len(data)
    return total, count
