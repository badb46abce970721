"""The heavy stages of a profile, data-parallel under torchrun, ahead of the notebooks.

    torchrun --nproc_per_node 4 -m hoilib.run.prepare --profile hico-uv --set world.data_root=/data/hicodet
    python -m hoilib run --profile hico-uv --set world.data_root=/data/hicodet   # reuses everything prepare cached
    python -m hoilib.run.prepare --profile hico-scale --set run.device=cuda --jobs 3   # one GPU

Feature extraction is sharded over the ranks and EZ-HOI trains with DDP; both
write the same resumable stages (feature cache, checkpoints) the notebooks read,
so the papermill run that follows only loads them. Without torchrun it runs in one
process, which is the same as running the chapters; ``--jobs N`` there trains N of the
independent EZ-HOI runs at once (``pipeline.parallel_runs``), one process each.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch.distributed as dist

from hoilib import distributed
from hoilib.config import Params


def _rank0_first(what: str, fn):
    """Rank 0 runs ``fn`` first (it writes the cache or fetches weights), then the others (they read it).

    A failure on any rank stops every rank at the next agreement, never at a barrier it cannot pass.
    """
    out = None
    with distributed.together(what):
        if distributed.is_main():
            out = fn()
    with distributed.together(what):
        if not distributed.is_main():
            out = fn()
    return out


def _check_kernels(cfg: Params) -> None:
    """On the CPU, the kernels the profile asks for must already be in the environment: torch is imported."""
    from hoilib.config import resolve_device
    from hoilib.errors import ConfigError
    from hoilib.machine import kernel_env

    missing = kernel_env(cfg.run.cpu_kernels)
    if missing and resolve_device(cfg.run.device) == "cpu":
        exports = " ".join(f"{k}={v}" for k, v in missing.items())
        raise ConfigError(
            f"parameter 'run.cpu_kernels' = {cfg.run.cpu_kernels!r} on the CPU: start torchrun with "
            f"{exports} in the environment (torch reads them when it starts), or --set run.cpu_kernels=native"
        )


def _check_jobs(jobs: int, world_size: int) -> None:
    from hoilib.errors import ConfigError

    if jobs < 1:
        raise ConfigError(f"option --jobs = {jobs}: expected a whole number of 1 or more")
    if jobs > 1 and world_size > 1:
        raise ConfigError(
            f"option --jobs = {jobs} under torchrun ({world_size} processes): EZ-HOI already "
            "trains data-parallel there; expected --jobs 1, or one process without torchrun"
        )


def _jobs_note(jobs: int, device: str, threads: int, *, cores: int) -> str | None:
    """A line for side-by-side runs that ask the CPU for more threads than it has: the runs then take
    turns on the cores and end later than one at a time would."""
    if jobs > 1 and device == "cpu" and jobs * threads > cores:
        return (
            f"[prepare] note: --jobs {jobs} on the CPU with {threads} thread(s) each asks for "
            f"{jobs * threads} threads of {cores} core(s); the runs will take longer than one at a time"
        )
    return None


def _lost_peer(e: BaseException) -> bool:
    """A collective that broke because another rank's process ended (it already printed why)."""
    return distributed.active() and (
        isinstance(e, dist.DistError) or "closed by peer" in str(e) or "Connection reset" in str(e)
    )


def main(argv=None) -> int:
    import torch

    from hoilib.config import parse_overrides as _overrides
    from hoilib.config import resolve, resolve_device
    from hoilib.data.build import prepare_world
    from hoilib.errors import HoiBookError
    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone
    from hoilib.models.ezhoi.ezhoi_stage import ABLATIONS, train_or_load
    from hoilib.models.split_data import split_data
    from hoilib.pool import cores
    from hoilib.run.parallel_runs import train_runs
    from hoilib.run.preflight import check_inputs
    from hoilib.seed import seed_everything

    ap = argparse.ArgumentParser(prog="hoilib.run.prepare", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="synth")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="train N of the independent EZ-HOI runs at once, one process each (not under torchrun)",
    )
    args = ap.parse_args(argv)
    rank = 0
    try:
        distributed.init_from_env()
        rank, world_size = distributed.world()
        say = print if distributed.is_main() else (lambda *a, **k: None)
        with distributed.together("checking the inputs"):
            cfg = resolve(args.profile, _overrides(args.set))
            check_inputs(cfg)
            _check_kernels(cfg)
            _check_jobs(args.jobs, world_size)
        seed_everything(cfg.run.seed)
        note = _jobs_note(
            args.jobs, resolve_device(cfg.run.device), torch.get_num_threads(), cores=cores()
        )
        if note:
            say(note)
        t0 = time.time()
        world = _rank0_first("the world", lambda: prepare_world(cfg))
        backbone = _rank0_first(
            "the backbone",
            lambda: prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg)),
        )
        say(
            f"[prepare] {world_size} process(es); world and backbone ready in {time.time() - t0:.0f} s"
        )
        with distributed.together("feature extraction"):
            data = split_data(cfg, world, backbone, split=cfg.world.split)
        say(
            f"[prepare] features of {len(data.test_pairs)} test pairs cached in {time.time() - t0:.0f} s"
        )
        names = list(ABLATIONS) if cfg.ezhoi.ablation else ["full"]
        if args.jobs > 1:
            runs = [(name, int(seed)) for name in names for seed in cfg.ezhoi.seeds]
            train_runs(args.profile, args.set, runs, jobs=args.jobs, say=say)
            names = []
        for name in names:
            for seed in cfg.ezhoi.seeds:
                with distributed.together(f"EZ-HOI {name!r} seed {seed}"):
                    train_or_load(
                        cfg.ezhoi,
                        cfg.run,
                        backbone,
                        world=world,
                        data=data,
                        name=name,
                        seed=int(seed),
                    )
                say(f"[prepare] EZ-HOI {name!r} seed {seed} ready ({time.time() - t0:.0f} s)")
    except HoiBookError as e:
        print(f"hoilib.run.prepare (rank {rank}): error: {e}", file=sys.stderr, flush=True)
        return 1
    except RuntimeError as e:
        if not _lost_peer(e):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(
            f"hoilib.run.prepare (rank {rank}): stopped: another rank ended ({first})",
            file=sys.stderr,
            flush=True,
        )
        return 1
    finally:
        distributed.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
