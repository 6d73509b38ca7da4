# facteur: build every program into bin/, test with prove over t/.
# The compiler line is the first line of conf-cc, the linker line the first
# line of conf-ld, the default instance the first line of conf-home.
# `make SANITIZE=1 check` builds with AddressSanitizer and UBSan.

CC_LINE   := $(shell head -n 1 conf-cc)
LD_LINE   := $(shell head -n 1 conf-ld)
HOME_DIR  := $(shell head -n 1 conf-home)
PREFIX    ?= /usr/local
DESTDIR   ?=

ifeq ($(SANITIZE),1)
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

COMPILE   = $(CC_LINE) $(SANFLAGS) -DFACTEUR_HOME_DEFAULT='"$(HOME_DIR)"' -MMD -MP
LINK      = $(LD_LINE) $(SANFLAGS) -o $@

# The programs started for every message (facteur-tlsd, -smtpd, -queue,
# -local) link statically: each exec then skips the dynamic loader, about
# 0.27 ms of CPU (bench/README.md). Not under SANITIZE: ASan needs it.
ifeq ($(SANITIZE),1)
STATIC    :=
else
STATIC    := -static-pie
endif

LIBS_CDB    := -lcdb
LIBS_SODIUM := -lsodium
LIBS_SSL    := -lssl -lcrypto

LIBFACTEUR := lib/libfacteur.a
LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:.c=.o)

# musl. The same four programs are compiled and linked (static-pie)
# against musl when Debian's musl-tools is there (tools/deps installs
# it), not under SANITIZE, and not with MUSL=0. glibc's start-up asks the
# CPU for its cache sizes with ~50 CPUID instructions, and on a virtual
# machine each one traps to the hypervisor: an exec of a static glibc
# program costs ~0.34 ms of CPU here, a musl one ~0.07 ms, and these four
# run for every message (bench/README.md, session 3). facteur-send too:
# it forks a runner for every delivery, and glibc's posix_spawn then resets
# all 64 signal dispositions one by one (musl: only those with handlers),
# and a smaller process forks faster. The programs built with `hot`
# (smtpd/, queue/, tls/, deliver/ module.mk) are these. Their objects go to
# m/; they never include OpenSSL or libsodium. Debian's libcdb.a was built
# against glibc; the three glibc symbols it calls (__fxstat64, lseek64,
# mmap64) are in musl's libc.a for such objects, and the link fails if
# one is missing.
MUSL_TRIPLET := $(subst -gnu,-musl,$(shell $(firstword $(CC_LINE)) -dumpmachine 2>/dev/null))
MUSL_LIB     := /usr/lib/$(MUSL_TRIPLET)
ifeq ($(SANITIZE)$(MUSL),)
MUSLGCC      := $(if $(wildcard $(MUSL_LIB)/rcrt1.o),$(shell command -v musl-gcc 2>/dev/null))
endif
ifneq ($(MUSLGCC),)
CDB_H        := $(firstword $(wildcard /usr/include/cdb.h /usr/local/include/cdb.h))
HOT_COMPILE  = $(MUSLGCC) $(wordlist 2,1000,$(CC_LINE)) -Im/inc -DFACTEUR_HOME_DEFAULT='"$(HOME_DIR)"' -MMD -MP
hot          = $(addprefix m/,$(1)) m/lib/libfacteur.a
CRTBEGINS   := $(shell $(firstword $(LD_LINE)) -print-file-name=crtbeginS.o)
CRTENDS     := $(shell $(firstword $(LD_LINE)) -print-file-name=crtendS.o)
LIBGCC      := $(shell $(firstword $(LD_LINE)) -print-libgcc-file-name)
HOT_LINK     = $(LD_LINE) -static-pie -nostdlib -o $@ $(MUSL_LIB)/rcrt1.o $(MUSL_LIB)/crti.o $(CRTBEGINS)
HOT_CDB     := $(shell $(firstword $(CC_LINE)) -print-file-name=libcdb.a)
HOT_END     := $(MUSL_LIB)/libc.a $(LIBGCC) $(CRTENDS) $(MUSL_LIB)/crtn.o
else
HOT_COMPILE  = $(COMPILE)
hot          = $(1) $(LIBFACTEUR)
HOT_LINK     = $(LINK) $(STATIC)
HOT_CDB     := $(LIBS_CDB)
HOT_END     :=
endif
HOT_LIB_OBJ := $(addprefix m/,$(filter-out lib/tlsconf.o,$(LIB_OBJ)))

PROGS :=
TESTPROGS :=
EXTRA_OBJ :=

.PHONY: all check check-man run install clean FORCE
all:

# Each program directory says what it builds in its module.mk.
include $(sort $(wildcard */module.mk))

all: $(PROGS) $(TESTPROGS)

# Rebuild everything when the compiler flags change (plain <-> SANITIZE).
.flags: FORCE
	@echo '$(COMPILE) | $(LINK) | $(MUSLGCC)' | cmp -s - $@ || echo '$(COMPILE) | $(LINK) | $(MUSLGCC)' > $@

%.o: %.c .flags
	$(COMPILE) -c -o $@ $<

m/%.o: %.c .flags m/inc/cdb.h
	@mkdir -p $(dir $@)
	$(HOT_COMPILE) -c -o $@ $<

m/inc/cdb.h: $(CDB_H)
	@mkdir -p m/inc
	cp $< $@

m/lib/libfacteur.a: $(HOT_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(LIBFACTEUR): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

check: all check-man
	FACTEUR_SRC=$(CURDIR) FACTEUR_BIN=$(CURDIR)/bin PATH=$(CURDIR)/bin:$$PATH \
	  prove -j2 -f t/

check-man:
	@for m in man/*.[0-9]; do mandoc -Tlint -W warning "$$m" || exit 1; done

run: all
	sh tools/run-demo

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	@# facteur-queue setuid facteur, so that local users can queue mail
	@# (facteur-queue(8) SECURITY); left 0755 until the user exists
	if id facteur >/dev/null 2>&1 && chown facteur $(DESTDIR)$(PREFIX)/bin/facteur-queue 2>/dev/null; then \
	  chmod 4711 $(DESTDIR)$(PREFIX)/bin/facteur-queue; \
	else echo 'note: facteur-queue not made setuid facteur (no such user yet, or not root): only root and facteur can queue until it is'; fi
	for m in man/*.8; do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man8/; done
	for m in man/*.5; do [ -f "$$m" ] && install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man5/; done; true
	install -m 644 etc/systemd/* $(DESTDIR)$(PREFIX)/lib/systemd/system/

clean:
	rm -f bin/facteur-* $(TESTPROGS) .flags
	rm -rf m
	find . -name '*.[oad]' -not -path './.git/*' -delete

-include $(shell find . -name '*.d' -not -path './.git/*' 2>/dev/null)
