"""How far chapter 0-1 numbers move with the CPU kernels, and what pinning the dispatch costs (not a test).

Each variant runs in its own process with its own environment variables, on one shared
HOI-Synth world: the backbone pretraining of the profile (the step that amplifies last-bit
differences of the CPU kernels), then chapter 1's centroid gap and frozen-CLIP union mAP.
It writes the backbone weights digest, those numbers and the wall time of each variant as
JSON and prints a table.

Variants (x86-64; the dispatch variables are read when torch is imported):
  native      whatever this machine selects (AVX-512 where present)
  avx2        an AVX2-only machine, emulated: ATen, oneDNN and MKL limited to AVX2
  pin-avx2    AVX2 everywhere and MKL's conditional-numerical-reproducibility mode (MKL_CBWR=AVX2)
  pin-compat  the most portable setting: ATen's default kernels, oneDNN SSE4.1, MKL_CBWR=COMPATIBLE
  aten-avx2, onednn-avx2, mkl-avx2   one library limited to AVX2 at a time (which one moves the numbers)
  avx2-1thread, avx2-4threads         avx2 with one or four threads (another machine's core count)
  portable    cpu_kernels: portable: avx2 with the book's 2 threads and OpenBLAS's AVX2 kernels

    .venv/bin/python benchmarks/cpu_dispatch.py --profile synth --out /tmp/cpu-dispatch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from hoilib.machine import AVX2_KERNELS, FIXED_THREADS  # noqa: E402  (the chapters' own settings)

VARIANTS = {
    "native": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "pin-avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "MKL_CBWR": "AVX2",
    },
    "pin-compat": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_CBWR": "COMPATIBLE",
    },
    # which library's dispatch moves the numbers: each limited alone
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "mkl-avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    # and the thread count (another machine has another number of cores)
    "avx2-1thread": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OMP_NUM_THREADS": "1",
    },
    # a 4-core machine under avx2 (torch's default threads are the cores), emulated: torch caps
    # OMP_NUM_THREADS at this machine's cores, so the child sets the count itself
    "avx2-4threads": {**AVX2_KERNELS, "BENCH_TORCH_THREADS": "4"},
    # cpu_kernels: portable, what `hoilib run` gives the chapters on any x86-64 machine with AVX2
    "portable": {**AVX2_KERNELS, **FIXED_THREADS, "OPENBLAS_CORETYPE": "Haswell"},
}


def one_variant(profile: str, world_dir: str, run_dir: str, sets: list[str]) -> dict:
    """Chapter 0's backbone and chapter 1's headline numbers in this process's dispatch setting."""
    import torch

    from hoilib import artifacts
    from hoilib.config import parse_override, resolve
    from hoilib.data.build import prepare_world
    from hoilib.machine import machine_info
    from hoilib.measure import gap
    from hoilib.measure.zeroshot import annotated_pairs, zero_shot_map
    from hoilib.models.backbone_stage import backbone_seed, features_of_test_pairs, prepare_backbone
    from hoilib.seed import seed_everything

    if os.environ.get("BENCH_TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
    cfg = resolve(
        profile,
        {"run_dir": run_dir, "data_root": world_dir, **dict(parse_override(s) for s in sets)},
    )
    seed_everything(cfg.run.seed)
    world = prepare_world(cfg)
    t0 = time.perf_counter()
    backbone = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    t_pretrain = time.perf_counter() - t0
    pairs, feats = features_of_test_pairs(cfg.backbone, cfg.run, world, backbone=backbone)
    text = backbone.encode_text(world.prompts)
    pos, pos_cls = annotated_pairs(world.test, pairs)
    g = gap.centroid_gap(feats["union"][pos], text[pos_cls])[1]
    scale = float(backbone.model.logit_scale.exp().detach())
    m = zero_shot_map(
        feats["union"],
        text,
        pairs,
        classes=world.classes,
        gt=world.test.ground_truth(),
        rare=world.rare,
        unseen=world.unseen(cfg.world.split),
        logit_scale=scale,
    ).as_percent()
    # not the file: it records wall-clock seconds
    weights = artifacts.tensor_digest(backbone.model.state_dict())
    return {
        "weights_digest": weights,
        "pretrain_s": round(t_pretrain, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "centroid_gap": round(float(g), 4),
        "union_full": round(m["full"], 2),
        "union_unseen": round(m["unseen"], 2),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": machine_info(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="synth")
    ap.add_argument(
        "--out", default="/tmp/cpu-dispatch", help="folder of the world, the runs and result.json"
    )
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="profile override"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.child:
        res = one_variant(args.profile, str(out / "world"), str(out / args.child), args.set)
        print("RESULT " + json.dumps(res))
        return 0
    results = {}
    for name in args.variants:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {x for d in VARIANTS.values() for x in d}
        }
        env.update(VARIANTS[name])
        cmd = [
            sys.executable,
            __file__,
            "--profile",
            args.profile,
            "--out",
            str(out),
            "--child",
            name,
        ]
        cmd += [a for s in args.set for a in ("--set", s)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            return 1
        results[name] = {"env": VARIANTS[name], **json.loads(line[-1][7:])}
        r = results[name]
        print(
            f"{name:11s} capability {r['cpu_capability']:8s} weights {r['weights_digest'][:12]} gap "
            f"{r['centroid_gap']:.4f} union Full {r['union_full']:.2f} Unseen {r['union_unseen']:.2f} "
            f"pretraining {r['pretrain_s']:.1f} s",
            flush=True,
        )
    old = json.loads((out / "result.json").read_text()) if (out / "result.json").is_file() else {}
    (out / "result.json").write_text(json.dumps({**old, **results}, indent=1) + "\n")
    print(f"written {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
