#!/usr/bin/env bash
# Set up the Python environment of this clone, .venv, in two layers:
#   1. A shared environment holding exactly the packages of requirements.txt (the lock) and nothing
#      else: built once per machine (about 4 minutes, 6.4 GB) in ~/.cache/hoi-book/env-<hash of the
#      lock and the Python version>, or in HOIBOOK_VENV. The project itself is never installed there.
#   2. .venv in this clone: a small virtual environment without packages of its own that sees the
#      shared ones through a .pth file, holds an editable install of THIS clone (pip install --no-deps
#      -e .) and copies of the shared commands (pip, pytest, torchrun, jupyter-book ...) that start its
#      own python. A second clone gets its .venv in seconds and imports its own hoilib, without PYTHONPATH.
# `.venv/bin/python -m pip list --format=freeze` is the lock plus hoilib; this script checks that.
#
# It deletes nothing it did not make: a folder is rebuilt only while it carries the marker
# .hoibook-building ("being built by hoi-book setup"), which is written into a new, empty folder before
# anything else and removed last. A non-empty HOIBOOK_VENV without that marker, or holding a finished
# environment for other requirements, is refused with one line (exit 1) before any slow work. An old
# .venv link to a shared environment is replaced (the link only); a .venv folder of your own is left alone.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
repo=$(pwd -P)
PY=${PYTHON:-python3}
LOCK=requirements.txt
BUILDING=.hoibook-building   # in a folder this script is filling; removed when it is complete
READY=.hoibook-ready         # in a finished shared environment: its key
CLONE=.hoibook-clone         # in a finished .venv: its key
LAYOUT="layout 2: the lock in a shared environment, the project per clone"

die() { echo "[setup] error: $*" >&2; exit 1; }
say() { echo "[setup] $*"; }
sha() { sha256sum | cut -c1-12; }
empty_dir() { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }

pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "no Python at '$PY' (set PYTHON)"
key=$( (cat "$LOCK"; echo "$pyver"; echo "$LAYOUT") | sha)
cache=$HOME/.cache/hoi-book
venv=${HOIBOOK_VENV:-$cache/env-$key}
case $venv in /*) ;; *) venv=$caller/$venv ;; esac   # a relative HOIBOOK_VENV: from where you are

# What is at $venv: ready (ours, this key), build (absent, empty, or ours half-built); otherwise refuse.
shared_state() {
  if [ ! -e "$venv" ] && [ ! -L "$venv" ]; then echo build
  elif [ ! -d "$venv" ]; then die "HOIBOOK_VENV=$venv exists and is not a folder; refusing to touch it"
  elif [ -f "$venv/$BUILDING" ]; then echo build
  elif [ -f "$venv/$READY" ]; then
    [ "$(cat "$venv/$READY")" = "$key" ] && echo ready ||
      die "$venv holds a hoi-book environment for other requirements (key $(head -c 40 "$venv/$READY"), need $key); remove it yourself or set HOIBOOK_VENV to another folder"
  elif empty_dir "$venv"; then echo build
  else die "HOIBOOK_VENV=$venv is a non-empty folder that is not a hoi-book environment; refusing to touch it (set HOIBOOK_VENV to a new or empty folder)"
  fi
}

# Run a command quietly; on failure show the end of its output and stop.
quiet() {
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 40 >&2
    rm -f "$log"; die "failed: $*"
  fi
  rm -f "$log"
}

# Make $1 an empty folder carrying the building marker. Only an absent folder, an empty one, or one
# that already carries the marker gets here; the marker stays while the rest is cleared.
start_building() {
  mkdir -p "$1"
  [ -f "$1/$BUILDING" ] || { empty_dir "$1" || die "internal: $1 is not empty"; echo "being built by hoi-book setup ($repo)" >"$1/$BUILDING"; }
  find "$1" -mindepth 1 -maxdepth 1 ! -name "$BUILDING" -exec rm -rf {} +
}

# Each installed package at exactly the locked version, and nothing else (but $2, the project).
check_lock() {
  "$1" - "$repo/$LOCK" "${2:-}" <<'EOF'
import re, subprocess, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
def pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            out[norm(name)] = version.strip()
    return out
want = pins(open(sys.argv[1]))
have = pins(subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                           check=True, capture_output=True, text=True).stdout.splitlines())
if sys.argv[2]:
    have.pop(norm(sys.argv[2]), None) or sys.exit(f"[setup] error: {sys.argv[2]} is not installed")
diff = [f"{n}: locked {want.get(n, '-')}, installed {have.get(n, '-')}"
        for n in sorted(set(want) | set(have)) if want.get(n) != have.get(n)]
if diff:
    sys.exit("[setup] error: the environment differs from the lock: " + "; ".join(diff))
EOF
}

state=$(shared_state)   # refuses here, before anything is written

# .venv: an old link (to a shared environment) is replaced; a folder of the user's own is left alone.
if [ -d .venv ] && [ ! -L .venv ] && [ ! -f .venv/$CLONE ] && [ ! -f .venv/$BUILDING ] && ! empty_dir .venv; then
  echo "[setup] warning: .venv is a folder of your own (no hoi-book marker); it is left as it is and the Makefile will use it" >&2
  exit 0
fi
[ ! -e .venv ] || [ -L .venv ] || [ -d .venv ] || die ".venv exists and is not a folder; move it away"

mkdir -p "$cache"
exec 9>"$cache/.setup.lock"
flock 9 2>/dev/null || true   # one setup at a time on this machine: another may be building the same environment
state=$(shared_state)

if [ "$state" = build ]; then
  say "creating the shared Python environment in $venv (about 4 minutes and 6.4 GB the first time) ..."
  t0=$SECONDS
  mkdir -p "$(dirname "$venv")"
  start_building "$venv"
  "$PY" -m venv "$venv"
  pipver=$(sed -n 's/^pip==\([^ ;]*\).*/\1/p' "$LOCK")
  quiet "$venv/bin/python" -m pip install --no-deps --disable-pip-version-check "pip==$pipver"
  quiet "$venv/bin/python" -m pip install --no-deps --disable-pip-version-check -r "$LOCK"
  check_lock "$venv/bin/python"
  quiet "$venv/bin/python" -m pip check --disable-pip-version-check
  echo "$key" >"$venv/$READY"
  rm -f "$venv/$BUILDING"
  say "shared environment built in $((SECONDS - t0)) s"
fi

# .venv of this clone, keyed by the shared environment, this folder, the project's metadata and this script.
ckey=$( (echo "$key $venv $repo"; cat pyproject.toml scripts/setup.sh) | sha)
if [ -L .venv ]; then
  say "replacing the link .venv -> $(readlink .venv) by this clone's own .venv (the linked folder stays)"
  rm -f .venv
fi
if [ ! -f .venv/$CLONE ] || [ "$(cat .venv/$CLONE)" != "$ckey" ] || [ -f .venv/$BUILDING ]; then
  say "creating .venv for this clone (its own hoilib, the packages of $venv) ..."
  t0=$SECONDS
  [ ! -f .venv/$CLONE ] || { echo "being built by hoi-book setup ($repo)" >.venv/$BUILDING; rm -f .venv/$CLONE; }
  start_building .venv
  "$PY" -m venv --without-pip .venv
  "$repo/.venv/bin/python" - "$venv" "$repo/.venv" <<'EOF'
import os, re, sys, sysconfig
from pathlib import Path
shared, own = Path(sys.argv[1]), Path(sys.argv[2])
site = Path(sysconfig.get_paths()["purelib"])
shared_site = shared / site.relative_to(own)
# The shared packages, after this environment's own (the project): site.addsitedir also runs their .pth files.
(site / "_hoibook_shared.pth").write_text(f"import site; site.addsitedir({str(shared_site)!r})\n")
# Jupyter finds kernels, widget and config files under sys.prefix.
for sub in ("share/jupyter", "etc/jupyter"):
    if (shared / sub).is_dir():
        (own / sub).parent.mkdir(parents=True, exist_ok=True)
        (own / sub).symlink_to(shared / sub)
# The shared commands, started by this environment's python; other executables are linked.
python = str(own / "bin" / "python").encode()
head = re.compile(rb"#!" + re.escape(str(shared / "bin").encode()) + rb"/python[0-9.]*")
long = re.compile(rb"#!/bin/sh\n'''exec' \"" + re.escape(str(shared / "bin").encode()) + rb"/python[0-9.]*\" \"\$0\" \"\$@\"\n' '''\n")
for src in sorted((shared / "bin").iterdir()):
    dst = own / "bin" / src.name
    if dst.exists() or dst.is_symlink() or src.is_dir() or re.match(r"python|activate|Activate", src.name):
        continue
    data = src.read_bytes()
    first, _, rest = data.partition(b"\n")
    m = long.match(data)
    if head.fullmatch(first.strip()) or m:
        body = data[m.end():] if m else rest
        shebang = b"#!" + python + b"\n" if len(python) < 126 else b"#!/bin/sh\n'''exec' \"" + python + b"\" \"$0\" \"$@\"\n' '''\n"
        dst.write_bytes(shebang + body)
        dst.chmod(0o755)
    else:
        dst.symlink_to(src)
EOF
  quiet .venv/bin/python -m pip install --no-deps --no-build-isolation --disable-pip-version-check -e "$repo"
  found=$(cd / && "$repo/.venv/bin/python" -c 'import importlib.util as u; print(u.find_spec("hoilib").origin)')
  [ "$found" = "$repo/hoilib/__init__.py" ] || die ".venv imports hoilib from $found, not from this clone"
  check_lock .venv/bin/python hoilib
  echo "$ckey" >.venv/$CLONE
  rm -f .venv/$BUILDING
  say ".venv created in $((SECONDS - t0)) s"
fi
# hoilib's bytecode, written here once: where PYTHONDONTWRITEBYTECODE is set (as in some CI images),
# every process (each chapter's kernel, each test's subprocess) would compile the package anew.
# Python still checks each file's time stamp, so an edited module is never read stale.
"$repo/.venv/bin/python" -m compileall -q "$repo/hoilib" >/dev/null || true
# the chapters' Jupyter kernel (hoilib/kernel_launch.py): papermill or Jupyter run directly on a
# notebook start it with the CPU kernels `hoilib run` gives its chapters
"$repo/.venv/bin/python" -m hoilib.kernel_launch install >/dev/null || die "could not write the hoi-book kernel spec"
say "environment ready: .venv (packages: $venv)"
