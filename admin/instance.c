/* instance.c: facteur-setup's work: create what is missing in the instance
 * at $FACTEUR_HOME and never change what is there, except that new local
 * domains are appended to control/domains and aliases.cdb is recompiled
 * from control/aliases. Runs as root (then it also creates the system
 * users facteur and facteur-tls and gives queue/ and mail/ to facteur) or
 * as a developer for an instance in their own directories (then nothing
 * is chowned). Trusts its arguments after checking them as host names. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addr.h"
#include "admin-internal.h"
#include "control.h"
#include "exitcodes.h"
#include "fsx.h"
#include "instance.h"
#include "log.h"
#include "priv.h"
#include "sysuser.h"
#include "tlscert.h"

#define HOSTNAME_MAX 255

static const char relay_text[] =
	"# Networks (CIDR, one a line) whose clients may relay without\n"
	"# authenticating. Empty by default: users relay after AUTH on the\n"
	"# submission ports, local programs use facteur-sendmail. Loopback is\n"
	"# left out on purpose: a proxy or tunnel on this host would otherwise\n"
	"# make an open relay. Uncomment to let this host's own clients relay:\n"
	"#127.0.0.0/8\n"
	"#::1/128\n";

static const char users_text[] =
	"# The user map: address:argon2id-hash[:maildir], one a line.\n"
	"# Change it with facteur-users, which rebuilds users.cdb.\n";

static const char aliases_text[] =
	"# Aliases: \"alias: target, target\", one a line; an alias is a full\n"
	"# address in a local domain, or a bare local part for every local\n"
	"# domain. Run facteur-newaliases after editing. postmaster always\n"
	"# exists: without an alias here it is delivered to the Maildir\n"
	"# mail/DOMAIN/postmaster/ of the first local domain.\n";

static int exists(const char *rel)
{
	str p = STR_ZERO;
	struct stat st;
	int r;

	if (!control_path(&p, rel)) return -1;
	r = lstat(p.s, &st) == 0 ? 1 : (errno == ENOENT ? 0 : -1);
	str_free(&p);
	return r;
}

static int path_of(str *p, const char *rel)
{
	if (control_path(p, rel) && str_0(p)) return 1;
	log_line("fatal: out of memory", (char *)0);
	return 0;
}

/* writes rel when it is missing; 1 ok (written or there), 0 error */
static int create_file(const char *rel, const char *text, size_t n, mode_t mode)
{
	str p = STR_ZERO;
	int r = exists(rel), ok = 1;

	if (r < 0) { log_line("fatal: unable to stat ", rel, ": ", strerror(errno), (char *)0); return 0; }
	if (r > 0) return 1;
	if (!path_of(&p, rel)) return 0;
	if (!fsx_writefile(p.s, text, n, mode)) {
		log_line("fatal: unable to create ", p.s, ": ", strerror(errno), (char *)0);
		ok = 0;
	} else {
		log_line("created ", rel, (char *)0);
	}
	str_free(&p);
	return ok;
}

static int create_dir(const char *rel, mode_t mode, const struct adm_owner *o, int give)
{
	str p = STR_ZERO;
	int fd, ok = 0;
	struct stat st;

	if (!path_of(&p, rel)) return 0;
	if (mkdir(p.s, mode) == 0) log_line("created ", rel, "/", (char *)0);
	else if (errno != EEXIST) { log_line("fatal: unable to create ", p.s, ": ", strerror(errno), (char *)0); goto out; }
	fd = open(p.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) { log_line("fatal: unable to open ", p.s, ": ", strerror(errno), (char *)0); goto out; }
	if (give && o->root && fstat(fd, &st) == 0 && (st.st_uid != o->uid || st.st_gid != o->gid)) {
		if (fchown(fd, o->uid, o->gid) != 0) {
			log_line("fatal: unable to chown ", p.s, ": ", strerror(errno), (char *)0);
			close(fd);
			goto out;
		}
		log_line("gave ", rel, "/ to ", o->name, (char *)0);
	}
	close(fd);
	ok = 1;
out:
	str_free(&p);
	return ok;
}

/* Root drops to facteur before reading the instance, so the instance and
 * every directory above it must let facteur through. mkdtemp(3)
 * directories (tests) and 0700 home directories do not; give them search
 * permission only (o+x), never read, and say so. */
static int open_path(const char *home, const struct adm_owner *o)
{
	str p = STR_ZERO;
	size_t i;
	int ok = 1;

	if (!o->root || !str_copys(&p, home) || !str_0(&p)) { str_free(&p); return o->root ? 0 : 1; }
	for (i = p.len; i > 0 && ok; i--) {
		struct stat st;
		mode_t need;
		if (p.s[i] != '/' && i != p.len) continue;
		p.s[i] = 0;
		if (stat(p.s[0] ? p.s : "/", &st) == 0 && S_ISDIR(st.st_mode)) {
			need = st.st_uid == o->uid ? S_IXUSR : st.st_gid == o->gid ? S_IXGRP : S_IXOTH;
			if (!(st.st_mode & need)) {
				if (chmod(p.s, (st.st_mode & 07777) | S_IXOTH) == 0) {
					log_line("gave search permission (o+x) on ", p.s, " so that ", o->name, " can reach the instance", (char *)0);
				} else {
					log_line("fatal: unable to chmod ", p.s, ": ", strerror(errno), (char *)0);
					ok = 0;
				}
			}
		}
		if (i != p.len) p.s[i] = '/';
	}
	str_free(&p);
	return ok;
}

static int host_ok(const char *h)
{
	return addr_domain_ok(h, strlen(h), 0) && strlen(h) <= HOSTNAME_MAX;
}

static int lower_name(const char *in, str *out)
{
	if (!str_copys(out, in) || !str_0(out)) return 0;
	str_lower(out);
	return 1;
}

/* control/domains: created with the given domains (or the host name), or
 * the new ones appended to what the admin has */
static int domains(const struct setup *s, const char *host)
{
	str have = STR_ZERO, raw = STR_ZERO, d = STR_ZERO, p = STR_ZERO;
	int r = control_readlines("control/domains", &have), ok = 0, changed = 0;
	size_t i, n = s->ndomains;
	struct stat st;
	mode_t mode = 0644;

	if (r < 0) { log_line("fatal: unable to read control/domains: ", strerror(errno), (char *)0); goto out; }
	if (control_readfile("control/domains", &raw) < 0) goto out;
	if (raw.len && raw.s[raw.len - 1] != '\n' && !str_appendc(&raw, '\n')) goto out;
	if (r == 0 && n == 0) { n = 1; }
	for (i = 0; i < n; i++) {
		size_t j = 0;
		int found = 0;
		if (!lower_name(s->ndomains ? s->domains[i] : host, &d)) goto out;
		while (j < have.len) {
			size_t l = strlen(have.s + j);
			if (l == d.len && strncasecmp(have.s + j, d.s, l) == 0) { found = 1; break; }
			j += l + 1;
		}
		if (found) continue;
		if (!str_append(&raw, d.s, d.len) || !str_appendc(&raw, '\n') ||
		    !str_append(&have, d.s, d.len + 1)) goto out;
		log_line("added local domain ", d.s, (char *)0);
		changed = 1;
	}
	if (!path_of(&p, "control/domains")) goto out;
	if (stat(p.s, &st) == 0) mode = st.st_mode & 07777;
	if (changed && !fsx_replacefile(p.s, raw.s, raw.len, mode)) {
		log_line("fatal: unable to write ", p.s, ": ", strerror(errno), (char *)0);
		goto out;
	}
	ok = 1;
out:
	str_free(&have);
	str_free(&raw);
	str_free(&d);
	str_free(&p);
	return ok;
}

static int tls(const char *host)
{
	str c = STR_ZERO, k = STR_ZERO;
	int hc = exists("control/tls/cert.pem"), hk = exists("control/tls/key.pem"), ok = 1;

	if (hc < 0 || hk < 0) { log_line("fatal: unable to look at control/tls: ", strerror(errno), (char *)0); return 0; }
	if (hc && hk) return 1;
	if (hc || hk) {
		log_line("warning: control/tls has only one of cert.pem and key.pem; not touching them", (char *)0);
		return 1;
	}
	if (!path_of(&c, "control/tls/cert.pem") || !path_of(&k, "control/tls/key.pem")) return 0;
	ok = tlscert_make(host, c.s, k.s);
	if (ok) log_line("created a self-signed certificate for ", host, " in control/tls/", (char *)0);
	str_free(&c);
	str_free(&k);
	return ok;
}

static int users(const struct adm_owner *o)
{
	str text = STR_ZERO;
	int r, ok;

	if (!create_file("control/users", users_text, sizeof users_text - 1, 0600)) return 0;
	r = exists("control/users.cdb");
	if (r < 0) return 0;
	if (r > 0) {
		/* an instance made without root, set up again as root: the map
		 * must become root:facteur 0640 or facteur cannot check logins */
		str p = STR_ZERO;
		struct stat st;
		int fine = !o->root || (path_of(&p, "control/users.cdb") && stat(p.s, &st) == 0 &&
		                        st.st_uid == 0 && st.st_gid == o->gid && (st.st_mode & 07777) == 0640);
		str_free(&p);
		if (fine) return 1;
	}
	ok = usermap_read(&text) && usermap_commit(&text, o, 0);
	if (ok) log_line(r ? "rebuilt control/users.cdb (owner and mode)" : "created control/users.cdb", (char *)0);
	str_free(&text);
	return ok;
}

static int aliases(const struct setup *s)
{
	str t = STR_ZERO, a = STR_ZERO;
	const char *why;
	int ok;

	if (!str_copys(&t, aliases_text)) return 0;
	if (s->postmaster) {
		if (!adm_alias_address(s->postmaster, strlen(s->postmaster), 0, &a, &why)) {
			log_line("fatal: invalid --postmaster ", s->postmaster, ": ", why, (char *)0);
			str_free(&t);
			return 0;
		}
		if (!str_appends(&t, "postmaster: ") || !str_append(&t, a.s, a.len) || !str_appendc(&t, '\n')) return 0;
	} else if (!str_appends(&t, "#postmaster: you@example.org\n")) {
		return 0;
	}
	ok = create_file("control/aliases", t.s, t.len, 0644) && aliasmap_compile() == 1;
	str_free(&t);
	str_free(&a);
	return ok;
}

int setup_run(const struct setup *s)
{
	struct adm_owner o;
	const char *home = control_home();
	str host = STR_ZERO;
	size_t i;
	char hn[HOSTNAME_MAX + 1];
	int r = EX_CANTCREAT;

	if (home[0] != '/') { log_line("fatal: FACTEUR_HOME must be an absolute path: ", home, (char *)0); return EX_USAGE; }
	if (s->hostname && !host_ok(s->hostname)) { log_line("fatal: invalid --hostname ", s->hostname, (char *)0); return EX_USAGE; }
	for (i = 0; i < s->ndomains; i++)
		if (!host_ok(s->domains[i]) || !strchr(s->domains[i], '.')) {
			log_line("fatal: invalid --domain ", s->domains[i], " (want a domain name with a dot)", (char *)0);
			return EX_USAGE;
		}
	if (geteuid() == 0 && (!sysuser_ensure(PRIV_USER) || !sysuser_ensure(PRIV_TLSUSER))) return EX_OSERR;
	if (!adm_owner_get(&o)) return EX_CONFIG;
	if (!fsx_mkdirs(home, 0755)) { log_line("fatal: unable to create ", home, ": ", strerror(errno), (char *)0); return EX_CANTCREAT; }
	if (!open_path(home, &o)) return EX_NOPERM;
	if (!create_dir("control", 0755, &o, 0) || !create_dir("control/tls", 0755, &o, 0)) return EX_CANTCREAT;
	if (!adm_lock()) return EX_TEMPFAIL;

	/* the host name: the argument, else control/me, else the kernel's */
	if (s->hostname) {
		if (!lower_name(s->hostname, &host)) goto nomem;
	} else if (control_readline("control/me", &host) <= 0 || !str_0(&host)) {
		if (gethostname(hn, sizeof hn) != 0) { log_line("fatal: no host name: give --hostname", (char *)0); return EX_USAGE; }
		hn[HOSTNAME_MAX] = 0;
		if (!lower_name(hn, &host)) goto nomem;
	}
	if (!host_ok(host.s)) { log_line("fatal: invalid host name ", host.s, ": give --hostname", (char *)0); goto out; }
	if (exists("control/me") > 0) {
		str me = STR_ZERO;
		if (control_readline("control/me", &me) > 0 && str_0(&me) && s->hostname && strcmp(me.s, host.s) != 0)
			log_line("warning: control/me says ", me.s, "; not changed (edit it yourself)", (char *)0);
		str_free(&me);
	} else {
		str me = STR_ZERO;
		int ok = str_copy(&me, host.s, host.len) && str_appendc(&me, '\n') &&
		         create_file("control/me", me.s, me.len, 0644);
		str_free(&me);
		if (!ok) goto out;
	}
	if (!domains(s, host.s)) goto out;
	if (!create_file("control/relayclients", relay_text, sizeof relay_text - 1, 0644)) goto out;
	if (!create_file("control/databytes", ADM_DATABYTES "\n", sizeof ADM_DATABYTES, 0644)) goto out;
	if (!users(&o)) goto out;
	if (!aliases(s)) { r = EX_DATAERR; goto out; }
	if (!tls(host.s)) goto out;
	/* queue/: facteur-queue and facteur-send make their own subdirectories */
	if (!create_dir("queue", 0750, &o, 1) || !create_dir("mail", 0750, &o, 1)) goto out;
	log_line("instance ready at ", home, (char *)0);
	r = 0;
	goto out;
nomem:
	log_line("fatal: out of memory", (char *)0);
	r = EX_TEMPFAIL;
out:
	str_free(&host);
	return r;
}
