#!/bin/sh
# unit tests of facteur-smtpd's parts: reply table, CIDR, smuggling scanner, sizes
exec "${FACTEUR_SRC:-.}/t/bin/unit-smtpd"
