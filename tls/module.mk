# tls/: facteur-tlsd, the TLS engine (issue 4), and t/bin/tls-echo, the toy
# protocol program its tests run under it. Only the engine links OpenSSL.
PROGS += bin/facteur-tlsd
TESTPROGS += t/bin/tls-echo

bin/facteur-tlsd: tls/tlsd.o tls/engine.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_SSL)

t/bin/tls-echo: tls/test-echo.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^

TESTPROGS += t/bin/unit-tlsconf

t/bin/unit-tlsconf: tls/unit-tlsconf.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^ $(LIBS_SSL)
