"""The ``hoi-book`` Jupyter kernel: ipykernel started with the environment ``hoilib run`` gives a chapter.

The CPU kernels and threads of a profile's ``run.cpu_kernels`` (``machine.kernel_env``) only
count when they are set before torch loads, and a kernel spec's process is the one place a
chapter run directly (papermill, Jupyter) can set them before its notebook's first import.
The variant is read from ``HOIBOOK_CPU_KERNELS`` (default ``portable``, the profiles' default);
``open_chapter`` refuses a profile whose variant is not the one its kernel started with.

    python -m hoilib.kernel_launch install   # what scripts/setup.sh runs: the kernel spec, in this environment
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hoilib import artifacts
from hoilib.machine import kernel_env, numba_cache_dir

KERNEL_NAME = "hoi-book"  # the chapter notebooks' kernel spec
CPU_KERNELS_ENV = "HOIBOOK_CPU_KERNELS"  # which run.cpu_kernels a kernel's process started with
RUNNER_ENV = "HOIBOOK_RUNNER"  # set in the kernels of `hoilib run`, which keeps their record itself
DEFAULT_CPU_KERNELS = "portable"


def chapter_env(cpu_kernels: str) -> dict[str, str]:
    """What a chapter's kernel process starts with, whoever starts it: the CPU kernels (only
    variables the user has not set), no progress bars in the stored notebook (tqdm reads
    ``TQDM_DISABLE`` at import), UMAP's compiled kernels in one folder per machine, and the name
    of the variant, for ``open_chapter`` to check."""
    return {
        **kernel_env(cpu_kernels),
        CPU_KERNELS_ENV: cpu_kernels,
        "TQDM_DISABLE": "1",
        "NUMBA_CACHE_DIR": numba_cache_dir(),
    }


def kernel_spec() -> dict:
    # "python": jupyter_client starts the kernel with the interpreter of whoever launches it (papermill
    # from a clone's .venv), so one spec serves every clone, whose .venv may share this Jupyter path
    return {
        "argv": ["python", "-m", "hoilib.kernel_launch", "-f", "{connection_file}"],
        "display_name": "hoi-book (Python 3)",
        "language": "python",
        "metadata": {"debugger": False},
    }


def install(prefix: str = sys.prefix) -> Path:
    """Write the kernel spec into ``prefix``'s Jupyter path (the environment's, where papermill and
    Jupyter look first); returns its kernel.json."""
    path = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    artifacts.write_json(path, kernel_spec())
    return path


def main(argv: list[str]) -> None:
    if argv[:1] == ["install"]:
        print(f"kernel spec {KERNEL_NAME!r} written to {install()}")
        return
    variant = os.environ.get(CPU_KERNELS_ENV, DEFAULT_CPU_KERNELS)
    env = {k: v for k, v in chapter_env(variant).items() if k not in os.environ}
    os.environ.update(env)
    # the same process id (the kernel manager watches it), with the variables in place from its start
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
