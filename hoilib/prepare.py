"""The heavy stages of a profile, data-parallel under torchrun, ahead of the notebooks.

    torchrun --nproc_per_node 4 -m hoilib.prepare --profile hico-uv --set data_root=/data/hicodet
    python -m hoilib run --profile hico-uv --set data_root=/data/hicodet   # reuses everything prepare cached

Feature extraction is sharded over the ranks and EZ-HOI trains with DDP; both
write the same resumable stages (feature cache, checkpoints) the notebooks read,
so the papermill run that follows only loads them. Without torchrun it runs in one
process, which is the same as running the chapters.
"""

from __future__ import annotations

import argparse
import sys
import time

from hoilib import distributed


def main(argv=None) -> int:
    from hoilib.cli import _overrides
    from hoilib.config import resolve
    from hoilib.data import prepare_world
    from hoilib.errors import HoiBookError
    from hoilib.ezhoi.experiment import ABLATIONS, split_data, train_or_load
    from hoilib.stages import prepare_backbone, seed_everything

    ap = argparse.ArgumentParser(prog="hoilib.prepare", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="synth")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE")
    args = ap.parse_args(argv)
    distributed.init_from_env()
    rank, world_size = distributed.world()
    say = print if distributed.is_main() else (lambda *a, **k: None)
    try:
        cfg = resolve(args.profile, _overrides(args.set))
        seed_everything(cfg["seed"])
        t0 = time.time()
        world = prepare_world(cfg)
        if not distributed.is_main():
            distributed.barrier()  # rank 0 fetches pretrained weights once; the others then read its cache
        backbone = prepare_backbone(cfg, world)
        if distributed.is_main():
            distributed.barrier()
        say(f"[prepare] {world_size} process(es); world and backbone ready in {time.time() - t0:.0f} s")
        data = split_data(cfg, world, backbone, cfg["split"])
        say(f"[prepare] features of {len(data.test_pairs)} test pairs cached in {time.time() - t0:.0f} s")
        names = list(ABLATIONS) if cfg["ezhoi_ablation"] else ["full"]
        for name in names:
            for seed in cfg["ezhoi_seeds"]:
                train_or_load(cfg, backbone, world, data, name, int(seed))
                say(f"[prepare] EZ-HOI {name!r} seed {seed} ready ({time.time() - t0:.0f} s)")
    except HoiBookError as e:
        print(f"hoilib.prepare (rank {rank}): error: {e}", file=sys.stderr)
        return 1
    finally:
        distributed.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
