# imapd/: facteur-imapd, the IMAP server (pre-login and mailbox modes).
IMAPD_OBJ := imapd/imapd.o imapd/cmd.o imapd/preauth.o imapd/folder.o imapd/mailbox.o \
	imapd/selected.o imapd/fetch.o imapd/envelope.o imapd/search.o
PROGS += bin/facteur-imapd

bin/facteur-imapd: $(IMAPD_OBJ) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^

t/bin/unit-imap: t/unit/imap.o $(filter-out imapd/imapd.o,$(IMAPD_OBJ)) $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^
TESTPROGS += t/bin/unit-imap

# The libFuzzer target (not built by `make`; t/59 builds its own copy).
FUZZ_IMAP_SRC := imapd/fuzz-imap.c imapd/cmd.c imapd/preauth.c imapd/folder.c imapd/mailbox.c \
	imapd/selected.c imapd/fetch.c imapd/envelope.c imapd/search.c lib/str.c lib/buf.c lib/scan.c \
	lib/fmt.c lib/fsx.c lib/log.c lib/mime.c lib/mutf7.c lib/addr.c lib/b64.c lib/control.c lib/tlsctl.c lib/sock.c \
	lib/auth.c lib/sasl.c lib/deadline.c

t/bin/fuzz-imap: $(FUZZ_IMAP_SRC)
	@mkdir -p t/bin
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Ilib -Iimapd -DFACTEUR_HOME_DEFAULT='"/nonexistent"' \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $(FUZZ_IMAP_SRC)
