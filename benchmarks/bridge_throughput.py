"""Benchmark: diffusion-bridge throughput (vectors/s) and its share of chapter 5's inference time.

    python benchmarks/bridge_throughput.py --profile synth [--set run.device=cpu] [--out results.json]

Part 1 bridges random vectors with the profile's first adapted-space diffusion
checkpoint (or, when the run has none yet, an untrained denoiser of the same size)
at several step counts. Part 2 needs a finished run of chapters 0-4 for the
profile: it times chapter 5's table for one seed (features, bridge, scoring and
mAP) and reports which share of that time the bridge calls take. Not a test:
numbers depend on the machine; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from hoilib.config import parse_overrides as _overrides  # noqa: E402
from hoilib.config import resolve, resolve_device  # noqa: E402
from hoilib.models.diffusion import model as dm  # noqa: E402
from hoilib.models.diffusion.bridge import bridge  # noqa: E402
from hoilib.models.seedrun import seed_run  # noqa: E402
from hoilib.ordering import methods as ordering


def load_or_init(cfg: dict, dim: int) -> tuple[dm.TextDiffusion, str]:
    found = sorted((Path(cfg.run.run_dir) / "diffusion").glob("adapted-*-seed*.safetensors"))
    if found:
        return dm.load(found[0]), f"trained checkpoint {found[0].name}"
    torch.manual_seed(0)
    den = dm.VectorDenoiser(
        dm.DenoiserConfig(dim=dim, hidden=cfg.diffusion.hidden, blocks=cfg.diffusion.blocks)
    )
    return dm.TextDiffusion(
        denoiser=den.eval(),
        text_mean=torch.zeros(dim),
        radius=1.0,
        fingerprint="untrained",
        space="adapted",
        history={},
    ), "untrained denoiser (no run yet)"


def throughput(
    diff: dm.TextDiffusion, device: str, n: int, t_start: int, steps_list, repeats: int = 3
) -> list[dict]:
    diff.denoiser.to(device)
    x = torch.nn.functional.normalize(
        torch.randn(n, diff.denoiser.cfg.dim, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    mean = x.mean(0)
    rows = []
    for steps in steps_list:
        # warm-up
        bridge(
            diff,
            x[:256],
            mean,
            space_fingerprint=diff.fingerprint,
            t_start=t_start,
            steps=steps,
            recipe="direct",
        )
        times = []
        for _ in range(repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            bridge(
                diff,
                x,
                mean,
                space_fingerprint=diff.fingerprint,
                t_start=t_start,
                steps=steps,
                recipe="direct",
            )
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        best = sorted(times)[len(times) // 2]
        rows.append(
            {
                "steps": steps,
                "vectors": n,
                "median_s": round(best, 4),
                "vectors_per_s": round(n / best, 1),
            }
        )
    diff.denoiser.to("cpu")
    return rows


def chapter5_share(cfg: dict) -> dict:
    """Time chapter 5's table for the first seed, and the bridge calls inside it."""
    from hoilib.data.build import prepare_world
    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone
    from hoilib.models.split_data import split_data

    world = prepare_world(cfg)
    backbone = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    data = split_data(cfg, world, backbone, split=cfg.world.split)
    ctx = ordering.make_context(world, backbone, data)
    run = seed_run(
        cfg, backbone, world, data=data, seed=int(cfg.ezhoi.seeds[0]), show_progress=False
    )
    spent = {"bridge": 0.0, "calls": 0, "vectors": 0}
    real_bridge = ordering.bridge

    def timed_bridge(*args, **kwargs):
        t0 = time.perf_counter()
        out = real_bridge(*args, **kwargs)
        spent["bridge"] += time.perf_counter() - t0
        spent["calls"] += 1
        spent["vectors"] += len(out)
        return out

    ordering.bridge = timed_bridge
    try:
        t0 = time.perf_counter()
        ordering.run_table(cfg, ctx, [run])
        total = time.perf_counter() - t0
    finally:
        ordering.bridge = real_bridge
    return {
        "seed": run.seed,
        "test_pairs": len(data.test_pairs),
        "table_s": round(total, 3),
        "bridge_s": round(spent["bridge"], 3),
        "bridge_calls": spent["calls"],
        "bridged_vectors": spent["vectors"],
        "bridge_share": round(spent["bridge"] / total, 4),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="synth")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE")
    ap.add_argument("--vectors", type=int, default=20000, help="vectors per throughput measurement")
    ap.add_argument(
        "--dim", type=int, default=128, help="embedding size of the untrained denoiser (no run yet)"
    )
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 5, 10, 20])
    ap.add_argument("--skip-chapter5", action="store_true", help="only the throughput part")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    cfg = resolve(args.profile, _overrides(args.set))
    device = resolve_device(cfg.run.device)
    diff, what = load_or_init(cfg, args.dim)
    res = {
        "profile": cfg.run.profile,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "model": what,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "t_start": cfg.bridge.t_start,
        "throughput": throughput(diff, device, args.vectors, cfg.bridge.t_start, args.steps),
    }
    print(f"bridge throughput on {device} ({what}), t* = {cfg.bridge.t_start}:")
    for r in res["throughput"]:
        print(
            f"  {r['steps']:3d} DDIM steps: {r['vectors_per_s']:>10.1f} vectors/s ({r['vectors']} "
            f"in {r['median_s']} s, median of 3)"
        )
    if not args.skip_chapter5:
        ezhoi_dir = Path(cfg.run.run_dir) / "ezhoi"
        if not ezhoi_dir.is_dir():
            print(
                f"chapter 5 share: skipped, no run in {cfg.run.run_dir} (run `python -m hoilib run "
                f"--profile {cfg.run.profile}` first)"
            )
        else:
            res["chapter5"] = c5 = chapter5_share(cfg)
            print(
                f"chapter 5 table, seed {c5['seed']} ({c5['test_pairs']} test pairs): "
                f"{c5['table_s']} s, of which the bridge "
                f"{c5['bridge_s']} s in {c5['bridge_calls']} calls ({100 * c5['bridge_share']:.1f}%)"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
