# Unit-test programs that link lib/ modules directly; run by t/*.t.
TESTPROGS += t/bin/unit-lib

t/bin/unit-lib: t/unit/lib.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^ $(LIBS_CDB)
