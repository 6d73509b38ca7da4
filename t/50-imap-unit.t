#!/bin/sh
# unit tests of lib/mutf7, lib/mime and the IMAP sequence sets
exec "${FACTEUR_SRC:-.}/t/bin/unit-imap"
