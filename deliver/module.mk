# deliver/: facteur-local, facteur-deliver, facteur-lmtpd (issue 2's MDA).
PROGS += bin/facteur-local bin/facteur-deliver

DELIVER_CORE := deliver/dlv.o deliver/rules.o deliver/run.o

bin/facteur-local: deliver/local.o $(DELIVER_CORE) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_CDB)

bin/facteur-deliver: deliver/deliver.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^
