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
	@echo '$(COMPILE) | $(LINK)' | cmp -s - $@ || echo '$(COMPILE) | $(LINK)' > $@

%.o: %.c .flags
	$(COMPILE) -c -o $@ $<

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
	find . -name '*.[oad]' -not -path './.git/*' -delete

-include $(shell find . -name '*.d' -not -path './.git/*' 2>/dev/null)
