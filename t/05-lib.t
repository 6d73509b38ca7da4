#!/bin/sh
# unit tests of lib/ (addresses, numbers, base64, strings, buffered I/O,
# remoteip, SASL PLAIN, deadlines)
exec "${FACTEUR_SRC:-.}/t/bin/unit-lib"
