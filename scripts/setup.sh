#!/usr/bin/env bash
# Create (or reuse) the Python environment this repository runs in, and link it as .venv.
# The environment is keyed by a hash of requirements.txt and the Python version and kept in
# ~/.cache/hoi-book (override with HOIBOOK_VENV), so a second clone on the same machine starts at once.
# The ready-marker is written last: an interrupted install is thrown away and redone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$( (cat requirements.txt; echo "$pyver") | sha256sum | cut -c1-12)
venv=${HOIBOOK_VENV:-$HOME/.cache/hoi-book/venv-$key}
if [ ! -f "$venv/.hoibook-ready" ] || [ "$(cat "$venv/.hoibook-ready")" != "$key" ]; then
  echo "[setup] creating the Python environment in $venv (about 4 minutes and 6.4 GB the first time) ..."
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r requirements.txt
  echo "$key" > "$venv/.hoibook-ready"
fi
if [ -e .venv ] && [ ! -L .venv ]; then
  echo "[setup] warning: .venv is a directory of your own; the Makefile will use it, not $venv" >&2
else
  ln -sfn "$venv" .venv
fi
echo "[setup] environment ready: $venv"
