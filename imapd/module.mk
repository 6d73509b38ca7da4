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
