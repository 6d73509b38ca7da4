# facteur-pop3d: POP3 on stdin/stdout; the mailbox half runs as `-m`
# under facteur-checkpassword.
PROGS += bin/facteur-pop3d
POP3D_OBJ := pop3d/pop3d.o pop3d/io.o pop3d/preauth.o pop3d/trans.o pop3d/maildrop.o

bin/facteur-pop3d: $(POP3D_OBJ) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^

TESTPROGS += t/bin/unit-pop3

t/bin/unit-pop3: pop3d/unit-pop3.o $(filter-out pop3d/pop3d.o,$(POP3D_OBJ)) $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^
