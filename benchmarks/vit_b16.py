"""Benchmark: CLIP crop-feature extraction (crops/s) and one EZ-HOI training step (s/step) on whatever device is here.

    python benchmarks/vit_b16.py [--model ViT-B-16] [--pretrained TAG_OR_FILE] [--device auto]
                                 [--crops 3072] [--batch 256] [--classes 600] [--out results.json]
                                 [--crop-path pil|device] [--bare]

Part 1 cuts human/object/union crops from random JPEG images written to a
temporary folder and encodes them with the library's own path
(``hoilib.models.features.encode_crops``: DataLoader with workers and pinned memory on
CUDA, bf16 autocast there; on CUDA the workers only decode and the crops are cut on the GPU
unless ``--crop-path pil``). Part 2 times one training step of the EZ-HOI head
(prompted text encoder over every class, adapters, focal loss, backward, AdamW)
on random pair features, as ``train_ezhoi`` runs it. Without ``--pretrained`` the
weights are random (nothing downloads here): the speed is the same, the features
are meaningless. Independent of any run folder. Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hoilib.config import resolve_device  # noqa: E402
from hoilib.data.annotations import HOIDataset, ImageAnn, PairSet  # noqa: E402
from hoilib.data.crop_loaders import PairImages  # noqa: E402
from hoilib.data.tensor_crops import crop_resize  # noqa: E402
from hoilib.models.backbone import load_open_clip  # noqa: E402
from hoilib.models.ezhoi.model import EZHOI, EZHOIConfig  # noqa: E402
from hoilib.models.ezhoi.pairs import PairTensors  # noqa: E402
from hoilib.models.ezhoi.train import class_objects, focal_loss, loss_mask, move_model  # noqa: E402
from hoilib.models.features import default_workers, encode_crops  # noqa: E402

KINDS = ("human", "object", "union")
N_OBJECTS = 80  # HICO-DET's object count, for the synthetic class list


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def synthetic_pairs(
    folder: Path,
    n_pairs: int,
    pairs_per_image: int = 4,
    size=(640, 480),
    seed: int = 0,
    distinct_files: int = 64,
):
    """Random-noise JPEGs (HICO-DET-sized) and random human/object boxes: (dataset, pairs) for ``encode_crops``.

    At most ``distinct_files`` files are written and the images reuse them in turn: every image is
    still read and decoded on its own, and a long, steady-state run costs no minutes of JPEG writing.
    """
    rng = np.random.default_rng(seed)
    n_images = max(1, -(-n_pairs // pairs_per_image))
    images, img, bh, bo = [], [], [], []
    w, h = size
    for i in range(n_images):
        name = f"bench_{i % distinct_files:05d}.jpg"
        if i < distinct_files:
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                folder / name, quality=90
            )
        images.append(
            ImageAnn(
                index=i,
                filename=name,
                width=w,
                height=h,
                boxes_h=np.zeros((0, 4)),
                boxes_o=np.zeros((0, 4)),
                hoi=np.zeros(0, np.int64),
                object=np.zeros(0, np.int64),
                verb=np.zeros(0, np.int64),
            )
        )
    for p in range(n_pairs):
        img.append(p // pairs_per_image)
        for out in (bh, bo):
            x0, y0 = rng.uniform(0, w * 0.6), rng.uniform(0, h * 0.6)
            out.append([x0, y0, x0 + rng.uniform(30, w * 0.4), y0 + rng.uniform(30, h * 0.4)])
    ds = HOIDataset(
        path=folder / "synthetic-annotations.json",
        image_dir=folder,
        images=images,
        objects=[f"object{k}" for k in range(N_OBJECTS)],
        verbs=["verb"],
        classes=[(0, k) for k in range(N_OBJECTS)],
    )
    return ds, PairSet(
        image=np.asarray(img, np.int64),
        boxes_h=np.asarray(bh),
        boxes_o=np.asarray(bo),
        object=np.zeros(n_pairs, np.int64),
    )


def bench_extraction(
    bb,
    device: str,
    crops: int,
    batch: int,
    workers: int,
    repeats: int,
    warmup: int,
    crop_path: str | None = None,
) -> dict:
    n_pairs = max(1, crops // len(KINDS))
    autocast = device.startswith("cuda")
    crop_path = crop_path or ("device" if autocast else "pil")
    with tempfile.TemporaryDirectory(prefix="hoi-bench-") as tmp:
        ds, pairs = synthetic_pairs(Path(tmp), n_pairs)

        def encode(index=None):
            return encode_crops(
                bb, ds, pairs, kinds=KINDS, device=device, batch_size=batch, num_workers=workers, autocast=autocast,
                index=index, show_progress=False, crop_path=crop_path,
            )  # fmt: skip

        # one batch: kernels chosen, memory allocated
        warm = np.arange(min(n_pairs, max(1, batch // len(KINDS))))
        for _ in range(warmup):
            encode(warm)
        parts = device_path_parts(bb, ds, pairs, device, batch) if crop_path == "device" else {}
        times = _timed(encode, device, repeats, 0)
    med = statistics.median(times)
    n = n_pairs * len(KINDS)
    return {
        "crops": n,
        "batch": batch,
        "workers": workers,
        "crop_path": crop_path,
        "autocast_bf16": autocast,
        "times_s": [round(t, 4) for t in times],
        "median_s": round(med, 4),
        "crops_per_s": round(n / med, 2),
        **parts,
    }


def device_path_parts(bb, ds, pairs, device: str, batch: int, repeats: int = 5) -> dict:
    """Where the device path's time goes: what one loader worker prepares per second (decode and
    plan, in this process) and what the device cuts per second (``crop_resize`` on a ready batch)."""
    data = PairImages(ds, pairs, KINDS, size=bb.image_size, per_batch=-(-batch // len(KINDS)))
    n_items = min(8, len(data))
    t0 = time.perf_counter()
    items = [data[b] for b in range(n_items)]
    prep = time.perf_counter() - t0
    crops = sum(len(it["plan"]["image_of"]) for it in items)
    it = items[0]
    dev = torch.device(device)
    images, hw = it["images"].to(dev), it["hw"].to(dev)
    cut = _timed(
        lambda: crop_resize(images, hw, it["plan"], size=bb.image_size), device, repeats, 1
    )
    n = len(it["plan"]["image_of"])
    return {
        "one_worker_crops_per_s": round(crops / prep, 1),
        "device_cut_crops_per_s": round(n / statistics.median(cut), 1),
    }


def bench_bare_forward(bb, device: str, batch: int, repeats: int, warmup: int) -> dict:
    """The image tower alone on a batch already on the device (bf16 autocast on CUDA): the ceiling that the
    library's extraction (cutting crops, copying them over, normalising, the same forward) is compared with."""
    dev = torch.device(device)
    model = bb.model.to(dev).eval()
    x = torch.randn(batch, 3, bb.image_size, bb.image_size, device=dev)
    autocast = dev.type == "cuda"

    @torch.no_grad()
    def forward():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
            model.encode_image(x)

    times = _timed(forward, device, repeats, warmup)
    bb.model.to("cpu")
    med = statistics.median(times)
    return {
        "batch": batch,
        "autocast_bf16": autocast,
        "times_s": [round(t, 5) for t in times],
        "median_s": round(med, 5),
        "crops_per_s": round(batch / med, 1),
    }


def build_ezhoi(bb, n_classes: int, seed: int = 0) -> tuple[EZHOI, list[tuple[int, int]]]:
    """EZ-HOI over a synthetic class list: prompts 'a photo of a person verb-ing an object k', random descriptors."""
    for p in bb.model.parameters():
        p.requires_grad_(False)
    bb.model.eval()
    classes = [(c // N_OBJECTS, c % N_OBJECTS) for c in range(n_classes)]
    prompts = [f"a photo of a person verb-ing an object {o} (action {v})" for v, o in classes]
    g = torch.Generator().manual_seed(seed)
    desc = torch.nn.functional.normalize(
        torch.randn(n_classes, 3, bb.embed_dim, generator=g), dim=-1
    )
    torch.manual_seed(seed)
    model = EZHOI(
        EZHOIConfig(dim=bb.embed_dim, num_classes=n_classes),
        bb.model,
        bb.tokenizer(prompts),
        descriptor_feats=desc,
    )
    return model, classes


def random_batch(n_images: int, pairs: int, dim: int, classes, seed: int = 0) -> PairTensors:
    g = torch.Generator().manual_seed(seed)

    def feat():
        return torch.nn.functional.normalize(torch.randn(n_images, pairs, dim, generator=g), dim=-1)

    obj = torch.randint(0, N_OBJECTS, (n_images, pairs), generator=g)
    cls_obj = class_objects(classes)
    targets = (
        (torch.rand(n_images, pairs, len(classes), generator=g) < 0.05)
        & (obj[..., None] == cls_obj)
    ).float()
    z = np.zeros((n_images, pairs, 4))
    return PairTensors(
        h=feat(),
        o=feat(),
        u=feat(),
        pad=torch.zeros(n_images, pairs, dtype=torch.bool),
        obj=obj,
        targets=targets,
        image=np.arange(n_images),
        boxes_h=z,
        boxes_o=z,
    )


def bench_train_step(
    bb, device: str, n_classes: int, images: int, pairs: int, repeats: int, warmup: int
) -> dict:
    model, classes = build_ezhoi(bb, n_classes)
    dev = torch.device(device)
    move_model(model, dev)
    model.train()
    b = random_batch(images, pairs, bb.embed_dim, classes)
    mask = loss_mask(b, class_objects(classes), torch.ones(n_classes, dtype=torch.bool)).to(dev)
    h, o, u, pad, targets = (t.to(dev) for t in (b.h, b.o, b.u, b.pad, b.targets))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)

    def step():  # what one iteration of train_ezhoi does
        loss = focal_loss(model(h, o, u, pad=pad), targets, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    times = _timed(step, device, repeats, warmup)
    move_model(model, torch.device("cpu"))
    med = statistics.median(times)
    return {
        "classes": n_classes,
        "images": images,
        "pairs_per_image": pairs,
        "trainable_params": sum(p.numel() for p in params),
        "times_s": [round(t, 4) for t in times],
        "median_s_per_step": round(med, 4),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ViT-B-16", help="open_clip model name")
    ap.add_argument(
        "--pretrained",
        default=None,
        help="open_clip tag or local weights file; default: random init",
    )
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    ap.add_argument(
        "--crops", type=int, default=3072, help="crops encoded per timed extraction (pairs x 3)"
    )
    ap.add_argument("--batch", type=int, default=256, help="crops per forward pass")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader workers (default: 0 on CPU, up to 4 on CUDA)",
    )
    ap.add_argument(
        "--classes", type=int, default=600, help="HOI classes in the training step (HICO-DET: 600)"
    )
    ap.add_argument(
        "--train-images",
        type=int,
        default=64,
        help="images per training batch (ezhoi_batch_images)",
    )
    ap.add_argument(
        "--pairs", type=int, default=8, help="candidate pairs per image in the training batch"
    )
    ap.add_argument(
        "--crop-path",
        choices=("pil", "device"),
        default=None,
        help="who cuts the crops: Pillow in the loader, or the device from decoded images "
        "(default: device on CUDA, pil on the CPU; the same bytes)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (the median is reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--skip-train", action="store_true", help="only the extraction part")
    ap.add_argument(
        "--bare",
        action="store_true",
        help="also time the bare forward of the image tower at the same batch, and report the share",
    )
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    workers = default_workers(device) if args.workers is None else args.workers
    bb = load_open_clip(args.model, args.pretrained, device="cpu")
    weights = (
        f"pretrained ({args.pretrained})"
        if args.pretrained
        else "random init (no --pretrained): speed as with real weights"
    )
    res = {
        "model": args.model,
        "weights": weights,
        "device": device,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name(torch.device(device))
        if device.startswith("cuda")
        else None,
    }
    print(f"{args.model}, weights: {weights}")
    print(
        f"device: {device}"
        + (f" ({res['gpu']})" if res["gpu"] else "")
        + f", torch {torch.__version__}, "
        f"{res['torch_threads']} torch threads"
    )
    res["extraction"] = ex = bench_extraction(
        bb, device, args.crops, args.batch, workers, args.repeats, args.warmup, args.crop_path
    )
    print(
        f"crop features: {ex['crops_per_s']:.1f} crops/s ({ex['crops']} crops, batch "
        f"{ex['batch']}, {ex['workers']} workers, crops cut by {ex['crop_path']}, "
        f"bf16 autocast {'on' if ex['autocast_bf16'] else 'off'}; median of {args.repeats}: {ex['median_s']} s)"
    )
    if "device_cut_crops_per_s" in ex:
        print(
            f"device path: one loader worker prepares {ex['one_worker_crops_per_s']:.1f} crops/s, "
            f"the device cuts {ex['device_cut_crops_per_s']:.1f} crops/s"
        )
    if args.bare:
        res["bare_forward"] = bare = bench_bare_forward(
            bb, device, args.batch, max(10, args.repeats), 3
        )
        res["extraction_share_of_bare"] = share = round(ex["crops_per_s"] / bare["crops_per_s"], 4)
        print(
            f"bare forward: {bare['crops_per_s']:.1f} crops/s (batch {bare['batch']}, median of "
            f"{len(bare['times_s'])}); extraction reaches {100 * share:.1f}% of it"
        )
    if not args.skip_train:
        res["train_step"] = tr = bench_train_step(
            bb, device, args.classes, args.train_images, args.pairs, args.repeats, args.warmup
        )
        print(
            f"EZ-HOI training step: {tr['median_s_per_step']:.3f} s/step ({tr['classes']} "
            f"classes, {tr['images']} images x "
            f"{tr['pairs_per_image']} pairs, {tr['trainable_params']} trainable parameters; median of {args.repeats})"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
