#!/bin/sh
# unit tests of the queue's parsers: envelope, info/ files, address lists
exec "${FACTEUR_SRC:-.}/t/bin/unit-queue"
