# facteur-smtpd: main in smtpd.c, the protocol in sibling files that the
# unit test links directly.
SMTPD_OBJ := smtpd/session.o smtpd/data.o smtpd/reply.o \
             smtpd/queue.o smtpd/sasl.o
PROGS += bin/facteur-smtpd
TESTPROGS += t/bin/unit-smtpd

bin/facteur-smtpd: $(call hot,smtpd/smtpd.o $(SMTPD_OBJ))
	@mkdir -p bin
	$(HOT_LINK) $^ $(HOT_CDB) $(HOT_END)

t/bin/unit-smtpd: t/unit/smtpd.o $(SMTPD_OBJ) $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^ $(LIBS_CDB)
