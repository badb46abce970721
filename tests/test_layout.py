"""The package's shape: imports only point down its layers, and no module grows unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hoilib import codekey

PACKAGE = Path(codekey.__file__).resolve().parent
# bottom to top; a module may import its own layer and the ones below it, never one above
LAYERS = ("infra", "config", "data", "measure", "models", "ordering", "chapters", "pipeline", "cli")
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
