"""Headless Chromium for the tests that open pages with their scripts running."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def chrome(exe, tmp_path, *args):
    """Run headless Chromium with ``args`` (``--dump-dom URL``, ``--screenshot``...), a profile of
    its own under ``tmp_path`` and nothing from the network it does not ask for."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        "--virtual-time-budget=4000",
    ]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


def chromium_or_skip() -> str:
    """Chromium's path; a skip where it is missing, except under CI, where it is a failure."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        why = "chromium is not installed (scripts/ensure-chromium.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the browser test")
        pytest.skip(why)
    return exe
