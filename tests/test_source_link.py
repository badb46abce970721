"""Every page names the commit its chapters ran at and, where known, the public repository
(issue 35), and never a folder of the building machine or a remote's credentials."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from hoilib.publish.source_link import footer, public_address, write_source
from hoilib.run.runner import REPO


@pytest.mark.parametrize(
    ("remote", "address"),
    [
        ("https://github.com/someone/hoi-book.git", "https://github.com/someone/hoi-book"),
        (
            "https://user:t0ken@github.com/someone/hoi-book.git",
            "https://github.com/someone/hoi-book",
        ),
        ("git@github.com:someone/hoi-book.git", "https://github.com/someone/hoi-book"),
        ("ssh://git@gitlab.com/group/hoi-book.git", "https://gitlab.com/group/hoi-book"),
        (
            "https://codeberg.org:8443/someone/hoi-book/",
            "https://codeberg.org:8443/someone/hoi-book",
        ),
        ("/work/main", None),
        ("file:///work/main", None),
        ("../hoi-book", None),
        ("https://github.com", None),
        ("", None),
        (None, None),
    ],
)
def test_a_remote_becomes_a_web_address_or_nothing(remote, address):
    assert public_address(remote) == address


@pytest.fixture
def staged(tmp_path):
    config = tmp_path / "_config.yml"
    shutil.copy2(REPO / "_config.yml", config)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    git = {"commit": "0123456789abcdef0123", "dirty": False}
    (run_dir / "provenance.json").write_text(json.dumps({"git": git}))
    return config, run_dir


def test_the_footer_links_the_repository_and_turns_its_button_on(staged):
    config, run_dir = staged
    url = write_source(config, run_dir, remote="https://bot:secret@github.com/someone/hoi-book.git")
    cfg = yaml.safe_load(config.read_text())
    assert url == cfg["repository"]["url"] == "https://github.com/someone/hoi-book"
    assert cfg["html"]["use_repository_button"] is True
    said = cfg["html"]["extra_footer"]
    assert (
        "<code>0123456789ab</code>" in said and 'href="https://github.com/someone/hoi-book"' in said
    )
    assert "secret" not in config.read_text() and "bot" not in said
    # the rest of the configuration is kept
    assert (
        cfg["sphinx"]["config"]["numfig"] is True and cfg["execute"]["execute_notebooks"] == "off"
    )


def test_a_local_clone_shows_the_commit_and_no_folder(staged):
    config, run_dir = staged
    assert write_source(config, run_dir, remote="/work/main") is None
    cfg = yaml.safe_load(config.read_text())
    assert cfg["html"]["use_repository_button"] is False and not cfg["repository"]["url"]
    assert "0123456789ab" in cfg["html"]["extra_footer"] and "/work" not in config.read_text()


def test_the_configured_address_wins_over_the_clone_origin(staged):
    config, run_dir = staged
    cfg = yaml.safe_load(config.read_text())
    cfg["repository"]["url"] = "https://github.com/owner/hoi-book"
    config.write_text(yaml.safe_dump(cfg))
    assert (
        write_source(config, run_dir, remote="git@host.example:fork/x.git")
        == cfg["repository"]["url"]
    )


def test_the_footer_escapes_what_it_shows():
    said = footer('https://example.org/a"b<c>', "abc", True)
    assert "<c>" not in said and "&quot;" in said and "uncommitted" in said
    assert footer(None, None, None) == '<p class="hoibook-source">Built by hoi-book.</p>'
