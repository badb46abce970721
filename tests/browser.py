"""Headless Chromium for the tests that open pages with their scripts running."""

from __future__ import annotations

import os

import pytest


def _chromium():
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def chrome(exe, tmp_path, *args):
    import subprocess

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
    exe = _chromium()
    if exe is None:
        why = "chromium is not installed (scripts/ensure-chromium.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the browser test")
        pytest.skip(why)
    return exe
