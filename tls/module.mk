# tls/: facteur-tlsd, the TLS engine (issue 4), and t/bin/tls-echo, the toy
# protocol program its tests run under it. facteur-tlsd is the plaintext
# relay and never links OpenSSL; it execs facteur-tlsd-tls, which does, only
# when a session starts TLS.
PROGS += bin/facteur-tlsd bin/facteur-tlsd-tls
TESTPROGS += t/bin/tls-echo

bin/facteur-tlsd: $(call hot,tls/tlsd.o tls/relay.o tls/pemfiles.o tls/common.o)
	@mkdir -p bin
	$(HOT_LINK) $^ $(HOT_END)

bin/facteur-tlsd-tls: tls/tlsd-tls.o tls/engine.o tls/common.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^ $(LIBS_SSL)

t/bin/tls-echo: tls/test-echo.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^

TESTPROGS += t/bin/unit-tlsconf

t/bin/unit-tlsconf: tls/unit-tlsconf.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^ $(LIBS_SSL)
