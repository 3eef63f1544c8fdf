#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries for the tests that run the broker on a real
# PostgreSQL (tests/conftest.py starts a throwaway server with initdb + pg_ctl). Idempotent;
# needs root or sudo. Prints the folder that holds initdb.
set -euo pipefail
found() { for dir in $(command -v initdb 2>/dev/null | xargs -r dirname) /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
done; return 1; }
if found; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq postgresql >/dev/null
found
