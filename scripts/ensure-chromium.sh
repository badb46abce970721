#!/usr/bin/env bash
# The book is a web page, so the tests open it in headless Chromium (Debian's package).
# Installs it when missing and this is a root Debian/Ubuntu machine; otherwise says that
# the browser test will be skipped.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing Debian's chromium for the browser test of the book ..."
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
     { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; then
    exit 0
  fi
  echo "[setup] could not install chromium; the browser test will be skipped" >&2
else
  echo "[setup] chromium not found (install Debian's 'chromium' package); the browser test will be skipped" >&2
fi
exit 0
