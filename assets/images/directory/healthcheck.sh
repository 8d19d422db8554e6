#!/bin/bash
# Healthy when slapd answers an anonymous search for the base entry on its local socket.
set -euo pipefail
ldapsearch -x -H ldapi:/// -LLL -s base -b "$(</run/slapd/base-dn)" 1.1 >/dev/null
