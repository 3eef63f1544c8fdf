#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it; its own
# browser download does not work offline). Idempotent; needs root or sudo.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium
