#!/bin/sh
# unit tests of facteur-pop3d's pieces: message numbers, SASL PLAIN,
# loopback detection, the CRLF/dot-stuffing encoder against the size
# counter (random messages), TOP, the idle timeout, the command reader
exec "${FACTEUR_SRC:-.}/t/bin/unit-pop3"
