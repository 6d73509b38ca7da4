# queue/: facteur-queue (puts a message in the queue), facteur-send (the
# queue manager), facteur-qstat (lists the queue), facteur-sendmail.
PROGS += bin/facteur-queue bin/facteur-send bin/facteur-qstat bin/facteur-sendmail

# -pthread: the fsync threads of fsx_batch (lib/fsx.c), for enqueue.c (libc itself since glibc 2.34 and
# in musl's libc.a; -nostdlib, the musl link, adds nothing for it)
bin/facteur-queue: $(call hot,queue/queue.o queue/enqueue.o queue/qfile.o)
	@mkdir -p bin
	$(HOT_LINK) $^ $(HOT_END) -pthread

# facteur-send with musl when there is one (Makefile, "musl")
bin/facteur-send: $(call hot,queue/send.o queue/sched.o queue/bounce.o queue/qfile.o)
	@mkdir -p bin
	$(HOT_LINK) $^ $(HOT_CDB) $(HOT_END)

bin/facteur-qstat: queue/qstat.o queue/qfile.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^

bin/facteur-sendmail: queue/sendmail.o queue/inject.o queue/qfile.o $(LIBFACTEUR)
	@mkdir -p bin
	$(LINK) $^

TESTPROGS += t/bin/unit-queue

t/bin/unit-queue: queue/unit-queue.o queue/qfile.o queue/inject.o $(LIBFACTEUR)
	@mkdir -p t/bin
	$(LINK) $^
