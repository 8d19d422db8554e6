#!/bin/bash
# Healthy when Dovecot greets on the IMAP port.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/143
IFS= read -r -t 4 greeting <&3
[[ $greeting == "* OK"* ]]
