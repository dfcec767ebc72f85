#!/usr/bin/env bash
# Installs what the browser end-to-end tests need: Debian's chromium (Playwright drives it through
# executable_path; `playwright install` downloads its own builds and cannot work offline).
# Idempotent: does nothing when /usr/bin/chromium is already there. The `playwright` Python package
# comes from pyproject's dev extra, not from here.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser.sh: not root and no sudo; install chromium by hand" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
"$CHROMIUM" --version
