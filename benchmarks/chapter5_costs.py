"""Where chapter 5's time goes under a profile's settings, on a world small enough for this CPU.

    .venv/bin/python -W ignore benchmarks/chapter5_costs.py [--profile hico-scale] [--train 240]
        [--test 120] [--pretrain 500] [--run-dir DIR] [--top 40]

Chapter 5's tables at HICO-DET's class count cost what the 600 classes' text corpus costs
(31,800 sentences: CapDec's prototypes, the corpus k-NN, the consumers, the closed-form
denoiser) plus what grows with the test set (the mAP evaluations). A small world at the
profile's other settings gives the first part as it would be at full size and counts the
second. It fills the run folder's stages first (world to diffusion, cached for a rerun),
then profiles ``ordering.experiment.stage_tables`` alone with cProfile and prints its seconds,
the calls of the costly functions and the top of the cumulative profile. Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time

# the functions whose counts say how the cost scales (name -> what one call is)
WATCH = {
    "evaluate_hoi": "one mAP evaluation",
    "capdec_prototypes": "CapDec's prototypes of one seed",
    "geometry_summary": "raw vs adapted k-NN and CKA of one set",
    "fit_consumers": "the text-only consumers of one seed and space",
    "closed_form_x0": "one closed-form denoiser call",
    "bridge": "one DDIM bridge",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="hico-scale")
    ap.add_argument("--train", type=int, default=240, help="training images of the small world")
    ap.add_argument("--test", type=int, default=120, help="test images of the small world")
    ap.add_argument("--pretrain", type=int, default=500, help="pretraining scenes")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument(
        "--run-dir", default=None, help="keep the stages here (default: a temporary folder)"
    )
    ap.add_argument("--top", type=int, default=40, help="rows of the cumulative profile to print")
    args = ap.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")

    from hoilib.chapters import ch5_ordering
    from hoilib.chapters.notebook import open_chapter
    from hoilib.models.seedrun import seed_runs
    from hoilib.ordering import experiment
    from hoilib.ordering.methods import make_context

    run_dir = args.run_dir or tempfile.mkdtemp(prefix="chapter5-costs-")
    params = {
        "run.run_dir": run_dir,
        "world.n_train_images": args.train,
        "world.n_test_images": args.test,
        "world.n_pretrain_images": args.pretrain,
        "world.image_size": args.image_size,
    }
    t0 = time.time()
    ch = open_chapter(args.profile, params, ch5_ordering, show=False)
    ctx = make_context(ch.world, ch.backbone, ch.data)
    runs = seed_runs(ch.cfg, ch.backbone, ch.world, data=ch.data)
    print(
        f"inputs ready in {time.time() - t0:.0f} s: {ch.world.num_classes} classes, "
        f"{len(ch.data.test_pairs)} test pairs, {len(runs)} seeds, folder {run_dir}",
        flush=True,
    )
    prof = cProfile.Profile()
    t0 = time.time()
    prof.enable()
    _, costs = experiment.stage_tables(ch.cfg, ctx, runs)
    prof.disable()
    print(f"stage_tables: {time.time() - t0:.0f} s; by stage: {costs}")
    stats = pstats.Stats(prof)
    for (path, _, name), (_, calls, _, cum, _) in sorted(stats.stats.items()):
        if name in WATCH and "hoilib" in path:
            print(f"  {name}: {calls} calls, {cum:.1f} s in all ({WATCH[name]})")
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
