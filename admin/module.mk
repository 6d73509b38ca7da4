# admin/: facteur-setup, facteur-users, facteur-newaliases (issue 2, 4).
PROGS += bin/facteur-setup bin/facteur-users bin/facteur-newaliases

ADMIN_COMMON := admin/common.o admin/usermap.o admin/aliasmap.o

bin/facteur-setup: admin/setup.o admin/instance.o admin/tlscert.o admin/sysuser.o $(ADMIN_COMMON) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_CDB) $(LIBS_SSL)

bin/facteur-users: admin/users.o admin/usercmd.o $(ADMIN_COMMON) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_CDB) $(LIBS_SODIUM)

bin/facteur-newaliases: admin/newaliases.o $(ADMIN_COMMON) $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_CDB)
