# facteur-checkpassword: the checkpassword interface on the user map.
PROGS += bin/facteur-checkpassword

bin/facteur-checkpassword: auth/checkpassword.o auth/checkpw.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_CDB) $(LIBS_SODIUM)

TESTPROGS += t/bin/unit-auth

t/bin/unit-auth: auth/unit-auth.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^
