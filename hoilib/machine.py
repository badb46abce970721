"""Which machine produced a result: CPU, kernel dispatch, BLAS, threads, GPU and package versions.

The same commit and seed give different numbers on different CPUs (the backbone
pretraining amplifies last-bit differences of the kernels), so every run records
this beside its numbers.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata

PACKAGES = (
    "torch",
    "torchvision",
    "open_clip_torch",
    "diffusers",
    "numpy",
    "scipy",
    "scikit-learn",
    "umap-learn",
    "numba",
    "pillow",
    "safetensors",
    "pandas",
    "papermill",
    "jupyter-book",
)
DISPATCH_ENV = (
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "CUBLAS_WORKSPACE_CONFIG",
)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    """The vector extensions that decide the kernels torch, MKL and oneDNN pick."""
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def _versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _blas(env: dict) -> list[dict]:
    """numpy/scipy BLAS and OpenMP libraries with their thread counts (threadpoolctl, which scikit-learn
    brings); OpenBLAS's kernels and threads as ``env`` (the chapters' variables) sets them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture")
    # in a stable order: threadpoolctl lists them in the order the process happened to load them
    out = sorted(
        ({k: d.get(k) for k in keep} for d in threadpool_info()),
        key=lambda d: (str(d["user_api"]), str(d["internal_api"])),
    )
    for d in out:
        if d["internal_api"] == "openblas":
            d["architecture"] = env.get("OPENBLAS_CORETYPE", d["architecture"])
            d["num_threads"] = int(env.get("OPENBLAS_NUM_THREADS", d["num_threads"]))
    return out


AVX2_KERNELS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_CBWR": "AVX2",
}


def numba_cache_dir() -> str:
    """Where numba keeps compiled kernels: the user's NUMBA_CACHE_DIR, else one folder per machine.

    numba keys its cache by source file and CPU, and the packages live in one shared
    environment, so UMAP's kernels compile once per machine, not once per run, clone or
    process (figures.umap_fit turns caching on for the kernels umap-learn leaves uncached).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hoi-book", "numba")


# the thread count of the machines the book is published from: a sum split over another number of
# threads adds in another order (benchmarks/cpu_dispatch.py: one thread moves every number)
BOOK_THREADS = "2"
FIXED_THREADS = {
    "OMP_NUM_THREADS": BOOK_THREADS,  # torch's intra-op threads (and OpenMP's)
    "MKL_NUM_THREADS": BOOK_THREADS,
    "OPENBLAS_NUM_THREADS": BOOK_THREADS,  # numpy's and scipy's BLAS
}


def kernel_env(cpu_kernels: str) -> dict:
    """Environment for processes that will import torch: the CPU kernels a profile asks for.

    ``avx2`` limits ATen, oneDNN and MKL to AVX2 (each of ATen and oneDNN alone moves the
    numbers; benchmarks/cpu_dispatch.py measures it), on x86-64 CPUs that have it.
    ``portable`` adds the book's thread count (``FIXED_THREADS``), so a workstation with more
    cores adds its sums in the published order too. ``native`` (or another CPU, for the
    kernels) changes nothing. A variable the user set already is kept.
    """
    env = {}
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    if cpu_kernels in ("avx2", "portable") and x86 and "avx2" in _cpu_flags():
        env.update(AVX2_KERNELS)
        if cpu_kernels == "portable":
            env["OPENBLAS_CORETYPE"] = "Haswell"  # numpy's BLAS kernels: its AVX2 ones
    if cpu_kernels == "portable":
        env.update(FIXED_THREADS)
    return {k: v for k, v in env.items() if k not in os.environ}


def machine_info(env: dict | None = None) -> dict:
    """JSON-ready facts about this machine and software, for provenance.json.

    ``env``: dispatch variables the chapter processes get on top of this one's (``kernel_env``),
    so the record names the kernels that produced the numbers, not the ones of the caller.
    """
    import torch

    config = torch.__config__.show()
    blas, mkl = (
        re.search(r"BLAS_INFO=(\w+)", config),
        re.search(r"Math Kernel Library Version (\S+)", config),
    )
    info = {
        "cpu": cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "torch_cpu_capability": (env or {})
        .get("ATEN_CPU_CAPABILITY", torch.backends.cpu.get_cpu_capability())
        .upper(),
        "torch_blas": blas and blas.group(1),
        "torch_mkl": mkl and mkl.group(1),
        "torch_threads": int((env or {}).get("OMP_NUM_THREADS", torch.get_num_threads())),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "numpy_blas": _blas(env or {}),
        "dispatch_env": {
            **{k: os.environ[k] for k in DISPATCH_ENV if k in os.environ},
            **(env or {}),
        },
        "cuda": None,
        "packages": _versions(),
    }
    if torch.cuda.is_available():
        i = torch.cuda.current_device()
        info["cuda"] = {
            "device": torch.cuda.get_device_name(i),
            "capability": list(torch.cuda.get_device_capability(i)),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return info
