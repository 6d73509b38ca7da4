# remote/: facteur-remote, the SMTP client for one message to one domain;
# t/bin/unit-remote tests lib/dns, lib/smtpreply and the body conversion.
PROGS += bin/facteur-remote

bin/facteur-remote: remote/remote.o remote/session.o remote/route.o remote/conn.o remote/msg.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_SSL)

TESTPROGS += t/bin/unit-remote

t/bin/unit-remote: remote/unit-remote.o remote/msg.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^

# The libFuzzer target (not built by `make`; t/87 builds its own copy):
# clang -fsanitize=fuzzer over the parsers that read network bytes.
FUZZ_REMOTE_SRC := remote/fuzz-remote.c remote/msg.c lib/smtpreply.c lib/dns.c \
	lib/str.c lib/fmt.c lib/control.c lib/scan.c lib/deadline.c

t/bin/fuzz-remote: $(FUZZ_REMOTE_SRC)
	@mkdir -p t/bin
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Ilib -DFACTEUR_HOME_DEFAULT='"/nonexistent"' \
	  -fsanitize=fuzzer,address,undefined -o $@ $(FUZZ_REMOTE_SRC)
