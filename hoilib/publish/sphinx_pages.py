"""A Sphinx extension for the book's build: each script a page loads, loaded once.

jupyter-book 1.x reads the sources twice in one build, and sphinx-thebe adds its inline
configuration script at each read; the second copy redeclares ``const THEBE_JS_URL`` and
every page logs "Identifier 'THEBE_JS_URL' has already been declared" in the browser.
``_config.yml`` names this module under ``sphinx.extra_extensions``.
"""

from __future__ import annotations


def _key(script) -> tuple:
    """A script's file and attributes (its inline body among them); a plain string is a file.
    An inline script's file is None or "", as the extension that added it chose."""
    attributes = getattr(script, "attributes", None) or {}
    return (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))


def once_each(app, pagename, templatename, context, doctree) -> None:
    """Drop a page's repeated scripts (same file or same inline body, same attributes)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for s in scripts:
        if _key(s) not in seen:
            seen.add(_key(s))
            kept.append(s)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", once_each, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
