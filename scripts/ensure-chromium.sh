#!/usr/bin/env bash
# Headless Chromium for scripts/screenshots.py and its test: Debian's `chromium` package.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo "installing chromium (Debian package; for the report screenshots)..."
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
