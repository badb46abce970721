"""The package's shape: imports only point down its layers, and no module grows unnoticed."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from hoilib import codekey

PACKAGE = Path(codekey.__file__).resolve().parent
# bottom to top; a module may import its own layer and the ones below it, never one above
LAYERS = (
    "infra", "config", "data", "measure", "models", "ordering", "figures", "chapters", "run", "publish",
    "cli",
)  # fmt: skip
TOP = {"hoilib.cli": "cli", "hoilib.__main__": "cli"}
MAX_LINES = 300
LONG_OK = "longer than 300 lines because"  # a module over the limit says why in its docstring


def layer(module: str) -> str:
    if module in TOP:
        return TOP[module]
    part = module.split(".")[1] if module.count(".") else "infra"
    return part if part in LAYERS else "infra"


def test_imports_only_point_down():
    graph, _ = codekey._graph(PACKAGE)
    up = [
        (m, d)
        for m, deps in graph.items()
        for d in deps
        if d != "hoilib" and LAYERS.index(layer(d)) > LAYERS.index(layer(m))
    ]
    assert not up, "imports that point up a layer: " + ", ".join(f"{m} -> {d}" for m, d in up)


def test_every_package_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        )
        sub = name.split(".")[1] if name.count(".") else None
        assert sub is None or sub in LAYERS or path.parent == PACKAGE, name


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_modules_stay_small_or_say_why(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES or LONG_OK in path.read_text()[:2000], f"{path.name}: {lines} lines"


# ---- layout rules of issue 19: they keep the house as it was left ---------------------------------
REPO = PACKAGE.parent
WRAPPED = re.compile(r"^\s*\)+[,:]?\s+# ")  # a trailing comment the formatter wrapped code around
# public names that nothing but tests uses, each kept on purpose
TEST_ONLY_OK = {
    "write_detections": "the detections format's writer: how a user turns a detector's output into a file",
    "setup": "a Sphinx extension's entry point (publish/sphinx_pages.py), called by Sphinx",
    "average_precision_11pt": "one class's AP as eval_hico.m computes it: the reference the "
    "vectorized class_aps is checked against, and a user's one-class check",
    "match_detections": "one class's matching as eval_hico.m does it: the reference for the "
    "evaluation's sorted-once matching, and a user's one-class check",
}
CHAPTER_MAX_FUNCTION = (
    60  # lines: a chapter function assembles and shows, it does not run experiments
)
# training belongs to models/ and ordering/
CHAPTER_FORBIDDEN = ("torch.optim", ".backward(", "nn.Module)")


def _python_sources(*globs: str) -> dict[Path, str]:
    return {p: p.read_text() for g in globs for p in sorted(REPO.glob(g))}


def wrapped_comments(text: str) -> list[int]:
    """Lines ending in ``)  # comment`` (``# fmt:`` and ``# noqa`` markers excepted)."""
    return [
        i
        for i, line in enumerate(text.splitlines(), start=1)
        if WRAPPED.match(line) and "fmt:" not in line and "noqa" not in line
    ]


def test_no_comment_is_wrapped_into_code():
    bad = {
        str(p.relative_to(REPO)): wrapped_comments(t)
        for p, t in _python_sources("hoilib/**/*.py", "tests/*.py", "benchmarks/*.py").items()
    }
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"comments to move above their statement (file: lines): {bad}"


def _names_used(text: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.add(node.name.split(".")[-1])
    return out


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_no_public_function_is_used_only_by_tests():
    """A public function or class of hoilib is named somewhere outside tests/ (the package, the
    notebooks, benchmarks, scripts), or is in ``TEST_ONLY_OK`` with its reason."""
    sources = _python_sources("hoilib/**/*.py", "benchmarks/*.py", "scripts/*.py")
    used = set().union(*(_names_used(t) for t in sources.values()))
    used |= set().union(
        *(_names_used(_notebook_code(p)) for p in sorted(REPO.glob("notebooks/*.ipynb")))
    )
    defined = {
        (node.name, str(p.relative_to(REPO)))
        for p, t in sources.items()
        if p.is_relative_to(PACKAGE)
        for node in ast.parse(t).body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }
    only_tests = sorted((n, f) for n, f in defined if n not in used and n not in TEST_ONLY_OK)
    assert not only_tests, f"public names nothing but tests uses (delete, or say why): {only_tests}"


def chapter_problems(text: str) -> list[str]:
    """What makes a chapter module hold experiment logic: training code or a long function."""
    out = [f"uses {s}" for s in CHAPTER_FORBIDDEN if s in text]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            n = node.end_lineno - node.lineno + 1
            if n > CHAPTER_MAX_FUNCTION:
                out.append(f"{node.name} is {n} lines")
    return out


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.glob("chapters/ch[0-9]_*.py")), ids=lambda p: p.name
)
def test_a_chapter_module_assembles_and_does_not_train(path):
    """Experiment logic (training, fitting loops) lives in models/ and ordering/, with tests of its own;
    a chapter module calls it, builds the chapter's tables and says what it found."""
    assert not chapter_problems(path.read_text()), chapter_problems(path.read_text())


def test_the_layout_rules_find_what_they_look_for():
    """Each rule fails on a deliberate violation."""
    assert wrapped_comments("x = (\n    1\n)  # one\ny = f(  # fine\n    2\n)  # fmt: skip\n") == [
        3
    ]
    assert chapter_problems("import torch.optim\n") == ["uses torch.optim"]
    long = "def f():\n" + "    x = 1\n" * CHAPTER_MAX_FUNCTION
    assert chapter_problems(long) == [f"f is {CHAPTER_MAX_FUNCTION + 1} lines"]
    assert {"g", "h"} <= _names_used("import a.g\nh(1)\n")
