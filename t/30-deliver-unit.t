#!/bin/sh
# unit tests of the delivery parsers: rules files, header scan, LMTP DATA reader
exec "${FACTEUR_SRC:-.}/t/bin/unit-deliver"
