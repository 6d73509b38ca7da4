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
