"""Data parallelism over the GPUs of one workstation (``torchrun``), and on the CPU with gloo for tests.

Every helper is a no-op in a single process, so library code calls them
unconditionally and a plain ``python`` run behaves exactly as before. Work is
split into *contiguous* shards: feature extraction then keeps its batches (and the
per-image crop cache) the same as in one process, and gathering is a concatenation
in rank order. Collectives use tensors, never pickled objects.

    torchrun --nproc_per_node 2 my_script.py   # my_script calls init_from_env() first
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

from hoilib.errors import ConfigError, HoiBookError

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init_from_env(backend: str | None = None, timeout_s: float = 1800.0) -> bool:
    """Join the process group torchrun describes in the environment; False (and nothing done) without torchrun.

    Picks nccl when CUDA is present (and binds this process to GPU ``LOCAL_RANK``,
    so ``"cuda"`` means this rank's card everywhere else), gloo otherwise. A world of
    one process initialises nothing: the single-process code path stays untouched.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        return False
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise ConfigError(
            f"distributed run: environment variable(s) {', '.join(missing)} not set; "
            "launch with torchrun (e.g. torchrun --nproc_per_node 2 script.py), which sets them"
        )
    size = int(os.environ["WORLD_SIZE"])
    if size <= 1:
        return False
    if not dist.is_available():
        raise ConfigError(
            "distributed run requested (WORLD_SIZE > 1) but this torch build has no torch.distributed"
        )
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        if local >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s): "
                "use --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(local)
    dist.init_process_group(
        backend, rank=rank, world_size=size, timeout=timedelta(seconds=timeout_s)
    )
    return True


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) in a single process."""
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def is_main() -> bool:
    """Rank 0 (or a single process): the one that writes files and shows progress."""
    return world()[0] == 0


def local_world_size() -> int:
    """Processes on this machine (to share its CPU cores among DataLoader workers)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if active() else 1


def shard_bounds(n: int, block: int = 1, size: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) of every rank's contiguous shard of ``n`` items, cut only at multiples of ``block``.

    Whole blocks are spread as evenly as possible (earlier ranks take the extra one);
    the short last block goes to the rank holding the end. Cutting at block
    boundaries keeps batches of size ``block`` identical to a single process's.
    """
    size = world()[1] if size is None else size
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    blocks = -(-n // block)
    q, r = divmod(blocks, size)
    out, b = [], 0
    for k in range(size):
        nb = q + (1 if k < r else 0)
        out.append((min(n, b * block), min(n, (b + nb) * block)))
        b += nb
    return out


def shard(n: int, block: int = 1) -> range:
    """This rank's contiguous shard of range(n) (all of it in a single process)."""
    start, stop = shard_bounds(n, block)[world()[0]]
    return range(start, stop)


def _comm_device() -> torch.device:
    """nccl moves only CUDA tensors; gloo only CPU ones."""
    return (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )


def gather_in_order(local: torch.Tensor, n: int, block: int = 1) -> torch.Tensor:
    """Every rank's shard (from ``shard(n, block)``) concatenated in rank order.

    The result is the full (n, ...) tensor, on every rank.

    Shard lengths are known from (n, block), so shards are padded to the longest and
    exchanged with one all_gather (works with gloo and nccl, no pickling). Result on the CPU.
    """
    if not active():
        return local
    bounds = shard_bounds(n, block)
    rank, size = world()
    if len(local) != bounds[rank][1] - bounds[rank][0]:
        raise ValueError(
            f"rank {rank}: shard has {len(local)} rows, expected {bounds[rank][1] - bounds[rank][0]} "
            f"(rows {bounds[rank][0]}..{bounds[rank][1]} of {n})"
        )
    longest = max(b - a for a, b in bounds)
    dev = _comm_device()
    buf = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=dev)
    buf[: len(local)] = local.to(dev)
    parts = [torch.empty_like(buf) for _ in range(size)]
    dist.all_gather(parts, buf)
    return torch.cat([p[: b - a].cpu() for p, (a, b) in zip(parts, bounds, strict=False)])


def all_true(flag: bool) -> bool:
    """True only when ``flag`` is True on every rank: one decision all ranks share (e.g. 'cache present')."""
    if not active():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over ranks (a copy; ``x`` is unchanged)."""
    if not active():
        return x
    t = x.detach().to(_comm_device()).clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.to(x.device)


def broadcast_float(value: float, src: int = 0) -> float:
    """Rank ``src``'s value on every rank, so decisions taken from it (best epoch) agree."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device())
    dist.broadcast(t, src)
    return float(t.item())


def failed_ranks(failed: bool) -> list[int]:
    """The ranks whose ``failed`` is True; every rank must call this at the same point (one all_gather)."""
    if not active():
        return [0] if failed else []
    t = torch.tensor([1 if failed else 0], dtype=torch.int64, device=_comm_device())
    parts = [torch.zeros_like(t) for _ in range(world()[1])]
    dist.all_gather(parts, t)
    return [i for i, p in enumerate(parts) if p.item()]


@contextmanager
def together(what: str):
    """Run a block on every rank, then share how it went: if any rank raised a HoiBookError, every rank stops.

    The failing rank re-raises its own error; the others raise one that names it, at once,
    instead of waiting at the next collective for a rank that will never come.
    """
    error = None
    try:
        yield
    except HoiBookError as e:
        error = e
    bad = failed_ranks(error is not None)
    if error is not None:
        raise error
    if bad:
        raise HoiBookError(
            f"{what}: stopped because rank {', '.join(map(str, bad))} failed (its error is printed above)"
        )


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written a file the others will read)."""
    if active():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (call at the end of a torchrun script; torch warns otherwise)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
