#!/bin/sh
# unit tests of lib/smtpreply, lib/dns (crafted answers) and the DATA body conversion
exec "${FACTEUR_SRC:-.}/t/bin/unit-remote"
