"""Data parallelism on the CPU: two torchrun processes with gloo give the single-process features and training.

The same file is the torchrun child script (``python -m torch.distributed.run ...
tests/test_distributed.py --cfg ... --out ...``): one launch extracts the features
of the tiny world in two shards and trains EZ-HOI for one epoch with DDP, and every
rank writes what it holds; the tests compare that with a single process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import pil_batch
from PIL import Image

from hoilib import artifacts, codekey, distributed
from hoilib.config import Params
from hoilib.data.annotations import PairSet
from hoilib.data.crops import pair_crop
from hoilib.errors import DataError
from hoilib.models.features import extract_pair_features, feature_entry

ROOT = Path(__file__).resolve().parent.parent
# batches of 7, 7 and 1 images: rank 1's share of the last one is empty
DDP_IMAGES, DDP_BATCH = (
    15,
    7,
)
# all parameters used / text modules off (find_unused_parameters)
ABLATION_RUNS = (
    "full",
    "frozen text",
)


def no_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Dropout off, so one process and two can be compared number for number."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(m, torch.nn.MultiheadAttention):
            m.dropout = 0.0
    return model


def _train_one(cfg, backbone, world, data, name):
    from hoilib.models.ezhoi.ezhoi_stage import ABLATIONS, build_model
    from hoilib.models.ezhoi.train import train_ezhoi

    torch.manual_seed(0)
    model = no_dropout(build_model(cfg.ezhoi, backbone, world, flags=ABLATIONS[name]))
    hist = train_ezhoi(
        model,
        data.train.subset(np.arange(DDP_IMAGES)),
        data.val,
        classes=world.classes,
        seen=~data.unseen,
        epochs=1,
        batch_images=DDP_BATCH,
        seed=0,
        show_progress=False,
    )
    return model.state_dict(), hist


def child(argv=None) -> int:
    """Run under torchrun: distributed feature extraction, then one DDP epoch per ablation; each
    rank saves its results.
    """
    ap = argparse.ArgumentParser()
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from hoilib.data.build import prepare_world
    from hoilib.models.backbone import load_synth_clip
    from hoilib.models.split_data import split_data

    assert distributed.init_from_env(), "expected to run under torchrun with WORLD_SIZE 2"
    rank, size = distributed.world()
    assert size == 2 and torch.distributed.get_backend() == "gloo"
    spec = json.loads(Path(args.cfg).read_text())
    cfg = Params.model_validate(spec["params"])
    out = Path(args.out)
    world = prepare_world(cfg)
    bb = load_synth_clip(spec["backbone_path"])
    t0 = time.time()
    feats = extract_pair_features(
        bb,
        world.train,
        world.train_pairs(),
        cache_dir=Path(cfg.run.run_dir) / "features",
        show_progress=False,
    )
    artifacts.save_tensors(
        out / f"features-rank{rank}.safetensors", feats, {"seconds": time.time() - t0}
    )
    # train features from the cache rank 0 wrote, test ones extracted
    data = split_data(cfg, world, bb, split=cfg.world.split)
    for name in ABLATION_RUNS:
        state, hist = _train_one(cfg, bb, world, data, name)
        artifacts.save_tensors(
            out / f"train-{name.replace(' ', '_')}-rank{rank}.safetensors", state, {"hist": hist}
        )
    distributed.barrier()
    distributed.cleanup()
    return 0


# ---------------------------------------------------------------- helpers of the tests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(nproc: int = 2) -> list[str]:
    """``python -m torch.distributed.run`` on this machine with ``nproc`` processes and a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
    ]


def _old_extract(bb, ds, pairs, kinds=("human", "object", "union"), batch_size=256):
    """The single-loop extraction this module replaced, kept as the reference for bit-identical CPU features."""
    out, buf, order = {k: [] for k in kinds}, [], []

    def flush():
        if buf:
            f = F.normalize(bb.model.encode_image(pil_batch(bb, buf)).float(), dim=-1)
            for kind, row in zip(order, f, strict=False):
                out[kind].append(row)
            buf.clear()
            order.clear()

    last, img = -1, None
    with torch.no_grad():
        for p in range(len(pairs)):
            i = int(pairs.image[p])
            if i != last:
                img, last = Image.open(ds.image_path(i)).convert("RGB"), i
            for kind in kinds:
                buf.append(
                    pair_crop(
                        img, pairs.boxes_h[p], pairs.boxes_o[p], kind=kind, size=bb.image_size
                    )
                )
                order.append(kind)
            if len(buf) >= batch_size:
                flush()
        flush()
    return {k: torch.stack(v) for k, v in out.items()}


@contextlib.contextmanager
def one_thread():
    """Run the single-process reference with one thread, as torchrun runs each child: comparable numbers,
    and no OpenMP oversubscription on a small, busy machine (which slows these tiny ops tenfold)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _sub(pairs: PairSet, n: int) -> PairSet:
    return PairSet(
        image=pairs.image[:n],
        boxes_h=pairs.boxes_h[:n],
        boxes_o=pairs.boxes_o[:n],
        object=pairs.object[:n],
    )


@pytest.fixture(scope="module")
def ddp_run(tiny_backbone, tiny_cfg, tmp_path_factory):
    """One torchrun launch (2 processes, gloo) of ``child``; returns its output folder and config."""
    world, _ = tiny_backbone
    out = tmp_path_factory.mktemp("ddp")
    split = next(
        (
            s
            for s in ("rf-uc", "nf-uc", "uv", "uo")
            if world.train.class_counts()[world.unseen(s)].sum() > 0
        ),
        "rf-uc",
    )
    cfg = tiny_cfg.updated({"run.run_dir": str(out / "run"), "world.split": split})
    backbone_path = f"{tiny_cfg.run.run_dir}/backbone/synth-clip.safetensors"
    (out / "cfg.json").write_text(
        json.dumps({"params": cfg.model_dump(), "backbone_path": backbone_path})
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    cmd = [
        *torchrun_cmd(),
        str(Path(__file__).resolve()),
        "--cfg",
        str(out / "cfg.json"),
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (
        f"torchrun failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    )
    return out, cfg


# ---------------------------------------------------------------- tests


def test_shard_bounds_cover_in_order_at_block_boundaries():
    for n, block, size in [(0, 3, 2), (1, 1, 2), (224, 86, 2), (10, 1, 3), (23, 4, 4), (5, 10, 2)]:
        b = distributed.shard_bounds(n, block, size)
        assert len(b) == size and b[0][0] == 0 and b[-1][1] == n
        assert all(b[k][1] == b[k + 1][0] for k in range(size - 1))
        assert all(a % block == 0 or a == n for a, _ in b)
    assert distributed.shard_bounds(224, 86, 2) == [(0, 172), (172, 224)]
    assert distributed.shard_bounds(10, 1, 3) == [(0, 4), (4, 7), (7, 10)]
    assert not distributed.active() and distributed.world() == (0, 1) and distributed.is_main()
    assert list(distributed.shard(5, 2)) == [0, 1, 2, 3, 4]  # a single process holds everything


def test_loader_features_match_the_single_loop_bit_for_bit(tiny_backbone, tmp_path):
    """CPU: the DataLoader path (0 or 2 workers) gives the old loop's features exactly, under the float32 cache key
    (its inputs, the code of the features stage included)."""
    world, bb = tiny_backbone
    pairs = _sub(world.test_pairs(), 40)
    kinds = ("human", "object", "union")
    with one_thread():
        ref = _old_extract(bb, world.test, pairs, batch_size=20)
    folder = tmp_path / "w0"
    entry = feature_entry(bb, world.test, pairs, kinds=kinds, folder=folder)
    assert entry.inputs == {
        "backbone": bb.fingerprint,
        "annotations": artifacts.sha256_file(world.test.path),
        "pairs": artifacts.fingerprint(
            [
                pairs.image.tolist(),
                np.round(pairs.boxes_h, 2).tolist(),
                np.round(pairs.boxes_o, 2).tolist(),
            ]
        ),
        "kinds": list(kinds),
        "size": bb.image_size,
        "crop": 1,
        "code": codekey.stage_digest("features"),
    }
    bf16 = feature_entry(bb, world.test, pairs, kinds=kinds, folder=folder, precision="bf16")
    assert bf16.key != entry.key
    # crops cut by Pillow in the loader, or from decoded images by tensor_crops (the GPU's path)
    for workers, path in ((0, "pil"), (2, "pil"), (0, "device"), (2, "device")):
        with one_thread():
            f = extract_pair_features(
                bb,
                world.test,
                pairs,
                cache_dir=tmp_path / f"w{workers}{path}",
                batch_size=20,
                num_workers=workers,
                show_progress=False,
                crop_path=path,
            )
        assert (tmp_path / f"w{workers}{path}" / entry.path(".safetensors").name).is_file()
        for k in kinds:
            assert f[k].dtype == torch.float32 and f[k].shape == (40, bb.embed_dim)
            assert torch.equal(f[k], ref[k]), (workers, path, k)


@pytest.mark.parametrize("path", ["pil", "device"])
def test_missing_or_broken_image_names_the_annotation_file(tiny_backbone, tmp_path, path):
    world, bb = tiny_backbone
    pairs = _sub(world.test_pairs(), 12)
    used = sorted({int(i) for i in pairs.image})
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    for i in used:
        shutil.copy(world.test.image_path(i), img_dir / world.test.images[i].filename)
    ds = dataclasses.replace(world.test, image_dir=img_dir)
    last = img_dir / ds.images[used[-1]].filename
    last.unlink()
    with pytest.raises(
        DataError,
        match=rf"{world.test.path.name}: image {used[-1]}: image file not found: .*{last.name}",
    ):
        extract_pair_features(
            bb,
            ds,
            pairs,
            cache_dir=tmp_path / "c",
            num_workers=2,
            show_progress=False,
            crop_path=path,
        )
    # only a worker finds this one: its error must come back readable
    last.write_bytes(b"not an image")
    with pytest.raises(
        DataError,
        match=rf"{world.test.path.name}: image {used[-1]}: image file .*{last.name} cannot be read .*worker",
    ):
        extract_pair_features(
            bb,
            ds,
            pairs,
            cache_dir=tmp_path / "c",
            num_workers=2,
            show_progress=False,
            crop_path=path,
        )


def test_two_process_extraction_equals_one_process(ddp_run, tiny_backbone, tmp_path):
    out, cfg = ddp_run
    world, bb = tiny_backbone
    with one_thread():
        single = extract_pair_features(
            bb,
            world.train,
            world.train_pairs(),
            cache_dir=tmp_path,
            num_workers=0,
            show_progress=False,
        )
    cached = list((Path(cfg.run.run_dir) / "features").glob("features-*.safetensors"))
    assert {p.name for p in cached} >= {
        p.name for p in tmp_path.glob("features-*.safetensors")
    }  # same key, written once
    for rank in (0, 1):
        got, _ = artifacts.load_tensors(out / f"features-rank{rank}.safetensors")
        for k in single:
            assert got[k].shape == single[k].shape
            assert torch.equal(got[k], single[k]), (
                rank,
                k,
                float((got[k] - single[k]).abs().max()),
            )


@pytest.mark.parametrize("name", ABLATION_RUNS)
def test_ddp_epoch_keeps_ranks_equal_and_matches_one_process(ddp_run, tiny_backbone, name):
    """Same weights on both ranks; same losses and (to float tolerance) weights as one process on the whole batches."""
    from hoilib.data.build import prepare_world
    from hoilib.models.split_data import split_data

    out, cfg = ddp_run
    _, bb = tiny_backbone
    world = prepare_world(cfg)
    data = split_data(cfg, world, bb, split=cfg.world.split)  # the features the two ranks cached
    assert len(data.train) >= DDP_IMAGES
    ranks = [
        artifacts.load_tensors(out / f"train-{name.replace(' ', '_')}-rank{r}.safetensors")
        for r in (0, 1)
    ]
    (s0, m0), (s1, _) = ranks
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
    h = m0["hist"]
    assert len(h["step_loss"]) == 3
    assert all(np.isfinite(h["step_loss"])) and np.isfinite(h["train_loss"][0])
    with one_thread():
        state, single = _train_one(cfg, bb, world, data, name)
    np.testing.assert_allclose(h["step_loss"], single["step_loss"], rtol=1e-4, atol=1e-6)
    for k in state:
        assert torch.allclose(s0[k], state[k], rtol=1e-3, atol=1e-4), (
            k,
            float((s0[k] - state[k]).abs().max()),
        )
    with one_thread():
        before, after = (
            _train_loss(cfg, bb, world, data, name, None),
            _train_loss(cfg, bb, world, data, name, s0),
        )
    assert np.isfinite(after) and after < before, (before, after)


@torch.no_grad()
def _train_loss(cfg, bb, world, data, name, state) -> float:
    """Focal loss on the training images: of the initial model (with its logit bias set), or of ``state``."""
    from hoilib.models.ezhoi.ezhoi_stage import ABLATIONS, build_model
    from hoilib.models.ezhoi.train import class_objects, focal_loss, init_logit_bias, loss_mask

    torch.manual_seed(0)
    model = build_model(cfg.ezhoi, bb, world, flags=ABLATIONS[name]).eval()
    train, cls_obj = data.train.subset(np.arange(DDP_IMAGES)), class_objects(world.classes)
    if state is None:
        init_logit_bias(model, train, cls_obj)
    else:
        model.load_state_dict(state)
    logits = model(train.h, train.o, train.u, pad=train.pad)
    return float(
        focal_loss(logits, train.targets, loss_mask(train, cls_obj, torch.as_tensor(~data.unseen)))
    )


if __name__ == "__main__":
    sys.exit(child())
