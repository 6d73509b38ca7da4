# deliver/: facteur-local, facteur-deliver, facteur-lmtpd (issue 2's MDA).
PROGS += bin/facteur-local bin/facteur-deliver bin/facteur-lmtpd
TESTPROGS += t/bin/unit-deliver

DELIVER_CORE := deliver/dlv.o deliver/rules.o deliver/run.o

bin/facteur-local: $(call hot,deliver/local.o $(DELIVER_CORE))
	@mkdir -p bin
	$(HOT_LINK) $^ $(HOT_CDB) $(HOT_END)

bin/facteur-deliver: deliver/deliver.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^

bin/facteur-lmtpd: deliver/lmtpd.o deliver/lmtp.o deliver/lmtpdata.o $(DELIVER_CORE) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_CDB)

t/bin/unit-deliver: deliver/unit-deliver.o deliver/lmtpdata.o $(DELIVER_CORE) $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^ $(LIBS_CDB)
