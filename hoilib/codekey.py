"""Digests of the source code behind each cached stage, so a code change reruns what it can affect.

A stage's code is every ``hoilib`` module its driver imports, directly or through other
``hoilib`` modules (imports inside functions included), read from the files on disk.
The digest goes into the stage's key: editing, say, the EZ-HOI training loop changes
the ``ezhoi`` digest and retrains EZ-HOI (and what is keyed on its checkpoint), while the
world, backbone and feature digests do not move and those stages are reused.

The closure over-approximates (a module that is imported but not run still counts),
which costs a needless rerun at worst and never a stale result. This module itself is
left out: it computes the keys and never touches a result, so editing it reruns nothing.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

# the package whose code is hashed (tests point it at a copy)
PACKAGE = Path(__file__).resolve().parent

# modules that compute keys, time or decide what is reused, never a result: editing them reruns nothing
KEY_ONLY = {"hoilib.codekey", "hoilib.timing", "hoilib.cache"}

# stage -> the modules whose code produces it (their import closure is taken).
STAGES: dict[str, tuple[str, ...]] = {
    # HOI-Synth generation and rendering
    "world": ("hoilib.data.synth.world",),
    # small-CLIP pretraining (the driver's choices are hashed as inputs)
    "backbone": ("hoilib.models.backbone",),
    # crops and the frozen image tower
    "features": ("hoilib.models.features",),
    # EZ-HOI model, training, checkpoint, the data it is fed
    "ezhoi": ("hoilib.models.ezhoi.ezhoi_stage",),
    # raw and adapted text spaces with their corpora, encoded from an EZ-HOI checkpoint
    "textspace": ("hoilib.models.textspace",),
    # the denoiser and its training
    "diffusion": ("hoilib.models.diffusion.diffusion_stage",),
}


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    name = ".".join(parts)
    return name.removesuffix(".__init__")


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Every hoilib module named by an import anywhere in the file (relative imports resolved)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if m == "hoilib" or m.startswith("hoilib.")}


# the code of a running process does not change; tests that edit a copy clear it
@lru_cache(maxsize=8)
def _graph(root: Path) -> tuple[dict[str, set[str]], dict[str, bytes]]:
    """(module -> hoilib modules it imports, module -> source bytes) for the package at ``root``."""
    sources, deps = {}, {}
    for path in sorted(root.rglob("*.py")):
        name = _module_name(path, root)
        data = path.read_bytes()
        sources[name] = data
        deps[name] = _imports(ast.parse(data, filename=str(path)), name, path.name == "__init__.py")
    for name in deps:
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        deps[name] = {
            d
            for d in deps[name] | set(parents)  # importing a.b runs a
            if d in sources and d != name and d not in KEY_ONLY
        }
    return deps, sources


def closure(roots, root: Path | None = None) -> list[str]:
    """The modules ``roots`` import, transitively, themselves included; sorted."""
    root = Path(root or PACKAGE)
    deps, sources = _graph(root)
    missing = [r for r in roots if r not in sources]
    if missing:
        raise KeyError(f"no module {missing} under {root}")
    seen, todo = set(), list(roots)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(deps[m])
    return sorted(seen)


def digest_of(modules, root: Path | None = None) -> str:
    """Short sha256 over the names and bytes of ``modules``."""
    _, sources = _graph(Path(root or PACKAGE))
    h = hashlib.sha256()
    for m in sorted(modules):
        h.update(m.encode() + b"\0" + sources[m] + b"\0")
    return h.hexdigest()[:16]


def code_digest(code: str | Sequence[str], root: Path | None = None) -> str:
    """The digest of a cached thing's code: a stage in ``STAGES``, or the closure of the modules named."""
    if isinstance(code, str):
        return stage_digest(code, root)
    return digest_of(closure(code, root), root)


def stage_code(stage: str, root: Path | None = None) -> dict:
    """{'digest', 'modules'} of one stage in ``STAGES``: what its key and its marker record."""
    if stage not in STAGES:
        raise KeyError(f"unknown stage {stage!r}; known: {sorted(STAGES)}")
    modules = closure(STAGES[stage], root)
    return {"digest": digest_of(modules, root), "modules": modules}


def stage_digest(stage: str, root: Path | None = None) -> str:
    return stage_code(stage, root)["digest"]


def all_digests(root: Path | None = None) -> dict:
    """Every stage's digest and one of the whole package: what provenance.json records."""
    _, sources = _graph(Path(root or PACKAGE))
    return {**{s: stage_digest(s, root) for s in STAGES}, "hoilib": digest_of(sources, root)}
