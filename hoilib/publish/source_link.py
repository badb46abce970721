"""Where a reader finds the book's code: every page's footer names the commit its chapters ran at
and, where one is known, the public repository (issue 35).

The address is ``_config.yml``'s ``repository.url`` when set, else the clone's ``origin`` when that
is a network address (any user name or token dropped, ``git@host:owner/name`` written as https). A
local folder is never shown: it is a path of the building machine, which no page may carry. With an
address, the theme's repository button is shown too.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.provenance import git, read_provenance


def public_address(remote: str | None) -> str | None:
    """A web address for a git remote, or None for a local one (a folder, ``file://``)."""
    remote = (remote or "").strip()
    ssh = re.fullmatch(r"(?:ssh://)?git@([\w.-]+)[:/]([\w./-]+?)(?:\.git)?/?", remote)
    if ssh:
        return f"https://{ssh[1]}/{ssh[2]}"
    parts = urlsplit(remote)
    path = re.sub(r"\.git/?$", "", parts.path).rstrip("/")
    if parts.scheme not in ("https", "http") or not parts.hostname or not path:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")  # no user name, no token
    return urlunsplit((parts.scheme, host, path, "", ""))


def origin(repo: Path = REPO) -> str | None:
    """The clone's ``origin`` remote as git reports it; None without git, a remote or a repository."""
    url = git("remote", "get-url", "origin", repo=repo)
    return url.strip() if url else None


def footer(url: str | None, commit: str | None, dirty: bool | None) -> str:
    """The footer's HTML: the commit the chapters ran at and the repository's address."""
    built = "Built by hoi-book"
    if commit:
        built += f" from commit <code>{html.escape(commit[:12])}</code>"
        built += " with uncommitted changes" if dirty else ""
    if url:
        link = html.escape(url, quote=True)
        built += f'; its code and how to rerun it: <a href="{link}">{html.escape(url)}</a>'
    return f'<p class="hoibook-source">{built}.</p>'


def write_source(config: Path, run_dir: Path, remote: str | None = None) -> str | None:
    """Put the footer (and, with an address, the repository and its button) into the staged
    ``_config.yml``; returns the address shown, None where none is known."""
    cfg = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    repository = cfg.setdefault("repository", {}) or {}
    url = public_address(repository.get("url")) or public_address(
        origin() if remote is None else remote
    )
    git = (read_provenance(run_dir) or {}).get("git") or {}
    page = cfg.setdefault("html", {})
    page["extra_footer"] = footer(url, git.get("commit"), git.get("dirty"))
    if url:
        cfg["repository"] = {**repository, "url": url}
        page["use_repository_button"] = True
    artifacts.write_bytes(config, yaml.safe_dump(cfg, sort_keys=False).encode("utf-8"))
    return url
