"""Benchmark: HICO-DET mAP (``evaluate_hoi``) at test-set scale, 1M detections.

    .venv/bin/python benchmarks/metric_scale.py [--detections 1000000] [--out metric.json]

Builds, from a fixed numpy seed, synthetic ground truth of HICO-DET test size (9,658 images of
640 x 480, 33,000 annotated human-object pairs, at least one per image; the 600 official HOI
classes with a long-tailed frequency: the 138 official rare classes get 1-5 pairs each, the other
462 a Zipf share of the rest) and N detections (image, class, score, human box, object box; float
xyxy boxes): 6% are a GT pair's boxes jittered by at most 8% of their size (IoU >= 0.5 with it,
same class, high scores), 34% are a GT pair's boxes jittered by up to 60% (half of them with
another class of that image), 60% are random boxes of a random class in a random image.
Then it times ``hoilib.measure.metric.evaluate_hoi`` with the official rare mask and the RF-UC
unseen mask, as the chapters pass them, so Full / Rare / Non-rare / Unseen / Seen are all computed.

It reports the time to build the inputs (the HOIDetections / HOIGroundTruth tables included)
apart from the evaluation time (each of --repeats runs and the best), detections/s, peak RSS of
the process, the machine, and the resulting mAPs as a sanity check that something was scored
(they must lie clearly between 0 and 100). Not a test: the numbers depend on the machine and
nothing here asserts a speed; issue 12 asks that 1M detections take under 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from hoilib.data.hico import lists as hico_lists
from hoilib.measure.metric import HOIDetections, HOIGroundTruth, evaluate_hoi

NUM_CLASSES = 600
IMAGE_W, IMAGE_H = 640.0, 480.0
# shares of the detections: planted near-copies of a GT pair, loose jitters of one, random
PLANTED, JITTERED = 0.06, 0.34


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument ends with one line and exit status 1."""

    def error(self, message):
        print(f"metric_scale.py: error: {message}", file=sys.stderr)
        sys.exit(1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (n, 4) xyxy box arrays."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (union - inter)


def random_boxes(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """n boxes inside the image, sides uniform in [lo, hi] pixels."""
    w = rng.uniform(lo, hi, n)
    h = rng.uniform(lo, hi, n)
    x1 = rng.uniform(0.0, IMAGE_W - w)
    y1 = rng.uniform(0.0, IMAGE_H - h)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)


def jitter(rng: np.random.Generator, boxes: np.ndarray, frac: float) -> np.ndarray:
    """Move each corner coordinate by up to ``frac`` of the box's side; keep xyxy and in-image."""
    n = boxes.shape[0]
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    d = rng.uniform(-frac, frac, (n, 4)) * np.concatenate([w, h, w, h], axis=1)
    out = boxes + d
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0.0, IMAGE_W)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0.0, IMAGE_H)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 1.0)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 1.0)
    return out


def class_counts(rng: np.random.Generator, n_pairs: int, rare: np.ndarray) -> np.ndarray:
    """GT pairs per class: rare classes 1-5, the others 1 + a Zipf (s = 0.9) share of the rest."""
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    counts[rare] = rng.integers(1, 6, rare.sum())
    common = np.flatnonzero(~rare)
    rest = n_pairs - counts.sum() - common.size
    weights = 1.0 / np.arange(1, common.size + 1) ** 0.9
    counts[rng.permutation(common)] = 1 + rng.multinomial(rest, weights / weights.sum())
    return counts


def build(n_dets: int, n_images: int, n_pairs: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rare = np.zeros(NUM_CLASSES, dtype=bool)
    rare[hico_lists.rare()] = True
    unseen = np.zeros(NUM_CLASSES, dtype=bool)
    unseen[hico_lists.unseen("rf-uc")] = True

    # ground truth: every image has a pair, the rest spread at random
    counts = class_counts(rng, n_pairs, rare)
    gt_hoi = rng.permutation(np.repeat(np.arange(NUM_CLASSES), counts))
    gt_img = np.concatenate([np.arange(n_images), rng.integers(0, n_images, n_pairs - n_images)])
    gt_h = random_boxes(rng, n_pairs, 40.0, 320.0)
    gt_o = random_boxes(rng, n_pairs, 20.0, 320.0)

    # detections
    n_planted = int(round(PLANTED * n_dets))
    n_jittered = int(round(JITTERED * n_dets))
    n_random = n_dets - n_planted - n_jittered
    src_p = rng.integers(0, n_pairs, n_planted)
    src_j = rng.integers(0, n_pairs, n_jittered)
    # half of the loose jitters take the class of another GT pair of the same image
    order = np.argsort(gt_img, kind="stable")
    lo = np.searchsorted(gt_img[order], gt_img[src_j], side="left")
    hi = np.searchsorted(gt_img[order], gt_img[src_j], side="right")
    other = order[lo + (rng.random(n_jittered) * (hi - lo)).astype(np.int64)]
    relabel = rng.random(n_jittered) < 0.5
    j_hoi = np.where(relabel, gt_hoi[other], gt_hoi[src_j])
    freq = counts / counts.sum()
    r_hoi = np.where(
        rng.random(n_random) < 0.5,
        rng.choice(NUM_CLASSES, n_random, p=freq),
        rng.integers(0, NUM_CLASSES, n_random),
    )
    image = np.concatenate([gt_img[src_p], gt_img[src_j], rng.integers(0, n_images, n_random)])
    hoi = np.concatenate([gt_hoi[src_p], j_hoi, r_hoi])
    boxes_h = np.concatenate(
        [jitter(rng, gt_h[src_p], 0.08), jitter(rng, gt_h[src_j], 0.6)]
        + [random_boxes(rng, n_random, 40.0, 320.0)]
    )
    boxes_o = np.concatenate(
        [jitter(rng, gt_o[src_p], 0.08), jitter(rng, gt_o[src_j], 0.6)]
        + [random_boxes(rng, n_random, 20.0, 320.0)]
    )
    score = np.concatenate(
        [rng.beta(5, 2, n_planted), rng.beta(2, 3, n_jittered), rng.beta(1.5, 4, n_random)]
    )
    # overlap with the GT pair each detection was made from (same class only): a lower bound
    # on the detections that overlap some GT pair of their class with IoU >= 0.5
    src = np.concatenate([src_p, src_j])
    k = n_planted + n_jittered
    ov = np.minimum(pair_iou(boxes_h[:k], gt_h[src]), pair_iou(boxes_o[:k], gt_o[src]))
    overlapping = int(((ov >= 0.5) & (hoi[:k] == gt_hoi[src])).sum())
    planted_ok = int((ov[:n_planted] >= 0.5).sum())

    # shuffle so that no block of rows is special
    perm = rng.permutation(n_dets)
    dets = HOIDetections(
        image=image[perm],
        hoi=hoi[perm],
        score=score[perm],
        boxes_h=boxes_h[perm],
        boxes_o=boxes_o[perm],
    )
    gt = HOIGroundTruth(image=gt_img, hoi=gt_hoi, boxes_h=gt_h, boxes_o=gt_o)
    return {
        "dets": dets,
        "gt": gt,
        "rare": rare,
        "unseen": unseen,
        "info": {
            "images": n_images,
            "gt_pairs": n_pairs,
            "classes": NUM_CLASSES,
            "gt_per_class_min_median_max": [
                int(counts.min()),
                int(np.median(counts)),
                int(counts.max()),
            ],
            "rare_classes": int(rare.sum()),
            "unseen_classes_rf_uc": int(unseen.sum()),
            "detections": n_dets,
            "planted": n_planted,
            "planted_with_iou_ge_0.5": planted_ok,
            "jittered": n_jittered,
            "random": n_random,
            "overlapping_share": round(overlapping / n_dets, 4),
        },
    }


def main(argv=None) -> int:
    ap = _Parser(description=__doc__.splitlines()[0])
    ap.add_argument("--detections", type=int, default=1_000_000)
    ap.add_argument("--images", type=int, default=9658)
    ap.add_argument("--pairs", type=int, default=33_000, help="annotated GT pairs")
    ap.add_argument("--repeats", type=int, default=3, help="evaluate_hoi runs (best is reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    for name in ("detections", "images", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.pairs < args.images:
        ap.error(f"--pairs must be at least --images ({args.images}), got {args.pairs}")
    if args.pairs < NUM_CLASSES * 5:
        ap.error(f"--pairs must be at least {NUM_CLASSES * 5}, got {args.pairs}")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        ap.error(f"--out: folder {Path(args.out).resolve().parent} does not exist")

    t0 = time.perf_counter()
    data = build(args.detections, args.images, args.pairs, args.seed)
    build_s = time.perf_counter() - t0

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        m = evaluate_hoi(
            data["dets"], data["gt"], NUM_CLASSES, rare=data["rare"], unseen=data["unseen"]
        )
        times.append(time.perf_counter() - t0)
    best = min(times)
    mAP = {k: round(v, 3) for k, v in m.as_percent().items()}
    res = {
        "inputs": data["info"],
        "seed": args.seed,
        "build_s": round(build_s, 3),
        "evaluate_s": [round(t, 3) for t in times],
        "evaluate_best_s": round(best, 3),
        "detections_per_s": round(args.detections / best, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "mAP_percent": mAP,
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    info = data["info"]
    print(
        f"evaluate_hoi on {info['detections']:,} detections vs {info['gt_pairs']:,} GT pairs in "
        f"{info['images']:,} images, {NUM_CLASSES} classes ({res['machine']['cpu']}):"
    )
    rows = [
        ("build inputs", f"{res['build_s']:.2f} s"),
        ("evaluate, each run", ", ".join(f"{t:.2f}" for t in times) + " s"),
        (f"evaluate, best of {len(times)}", f"{best:.2f} s"),
        ("detections/s", f"{res['detections_per_s']:,.0f}"),
        ("peak RSS", f"{res['peak_rss_mib']:.0f} MiB"),
        ("overlapping GT (IoU >= 0.5)", f"{100 * info['overlapping_share']:.1f}% of detections"),
        ("mAP (%)", m.format_row()),
    ]
    for name, value in rows:
        print(f"  {name:<28} {value}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
