"""The environment is the lock, hoilib is this checkout, and scripts/setup.sh never touches a folder it did not make.

requirements.txt (generated from requirements.in) pins every package; the environment must hold each
at exactly that version and nothing else but the project, and `import hoilib` must find this clone's
code without PYTHONPATH (the project is installed in editable mode into this clone's .venv).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.txt"
PROJECT = "hoilib"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (comments, options and markers left out)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            out[_norm(name)] = version.strip()
    return out


def _installed() -> dict[str, str]:
    """What this interpreter imports: the first distribution of each name along sys.path."""
    out: dict[str, str] = {}
    for dist in md.distributions():
        out.setdefault(_norm(dist.metadata["Name"]), dist.version)
    return out


def test_lock_pins_every_package():
    pins = _pins(LOCK)
    text = LOCK.read_text()
    assert any(line.startswith("#    pip-compile ") for line in text.splitlines()[:8]), (
        "requirements.txt must say, at its top, the command that generated it"
    )
    assert len(pins) > 100 and {"torch", "sphinx", "docutils", "numba", "pip", "setuptools"} <= set(
        pins
    )
    top = _pins(ROOT / "requirements.in")
    assert {n: v for n, v in top.items() if pins.get(n) != v} == {}, (
        "requirements.in and the lock disagree"
    )


def test_environment_is_the_lock():
    want, have = _pins(LOCK), _installed()
    assert have.pop(PROJECT, None), f"{PROJECT} is not installed in {sys.prefix} (run `make setup`)"
    missing = [f"{n}=={v}" for n, v in sorted(want.items()) if n not in have]
    wrong = [
        f"{n}: locked {v}, installed {have[n]}"
        for n, v in sorted(want.items())
        if n in have and have[n] != v
    ]
    extra = [f"{n}=={v}" for n, v in sorted(have.items()) if n not in want]
    assert not (missing or wrong or extra), (
        f"the environment of {sys.executable} differs from requirements.txt:\n"
        f"  missing: {missing}\n  other versions: {wrong}\n  not in the lock: {extra}\n"
        "(rebuild with `make setup`; to change versions edit requirements.in and regenerate the lock)"
    )


def test_pyproject_agrees_with_the_lock():
    """Every dependency range in pyproject.toml admits the locked version, and every top-level pin is declared there."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    pins = _pins(LOCK)
    bad = [
        f"{r} (locked {pins.get(_norm(r.name), 'nothing')})"
        for r in reqs
        if not r.specifier.contains(pins.get(_norm(r.name), "0"), prereleases=True)
    ]
    assert not bad, f"pyproject.toml ranges that exclude the locked version: {bad}"
    undeclared = (
        set(_pins(ROOT / "requirements.in")) - {_norm(r.name) for r in reqs} - {"pip", "setuptools"}
    )
    assert not undeclared, (
        f"pinned in requirements.in but not in pyproject.toml: {sorted(undeclared)}"
    )


def test_hoilib_is_this_checkout_without_pythonpath(tmp_path):
    import hoilib

    assert Path(hoilib.__file__).resolve().parent == ROOT / "hoilib"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -I: no PYTHONPATH, no user site, not even the current folder; only what is installed.
    r = subprocess.run(
        [sys.executable, "-I", "-c", "import hoilib; print(hoilib.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve().parent == ROOT / "hoilib", r.stdout


def _setup_copy(tmp_path: Path) -> Path:
    """The files setup.sh reads, in a folder of their own: a mistake there cannot reach this clone's .venv."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("scripts/setup.sh", "requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    return repo


@pytest.mark.parametrize("content", ["a file of mine", ".hoibook-ready"])
def test_setup_refuses_a_foreign_folder(tmp_path, content):
    """HOIBOOK_VENV at a non-empty folder it did not make (or a finished environment for other requirements):
    one line, exit 1, at once, and the folder stays as it was."""
    repo = _setup_copy(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    name = "notes.txt" if content == "a file of mine" else ".hoibook-ready"
    (mine / name).write_text(content if name == "notes.txt" else "0123456789ab\n")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    env = {
        **os.environ,
        "HOIBOOK_VENV": str(mine),
        "HOME": str(tmp_path / "home"),
        "PYTHON": sys.executable,
    }
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["bash", str(repo / "scripts" / "setup.sh")],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        pytest.fail(
            "setup.sh did not refuse at once: it started working on a folder that is not its own"
        )
    assert proc.returncode == 1, (proc.returncode, out, err)
    assert time.monotonic() - t0 < 30
    assert len(err.strip().splitlines()) == 1 and str(mine) in err and "error" in err, err
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert not (repo / ".venv").exists() and not (tmp_path / "home").exists(), (
        "it wrote something before refusing"
    )
