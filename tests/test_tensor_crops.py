"""The device crop path (issue 21, item 3): Pillow's square crops, byte for byte, from tensors."""

import numpy as np
import pytest
import torch
from PIL import Image

from hoilib.data.crop_loaders import crop_batches
from hoilib.data.crops import pair_crop, square_crop
from hoilib.data.resample import bicubic_weights, square_geometry
from hoilib.data.tensor_crops import crop_resize, kind_boxes, plan_crops


def _image(rng, h, w, smooth):
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if smooth:  # natural images are smooth; noise alone never takes the clipping branches apart
        small = Image.fromarray(arr).resize((w // 4 + 1, h // 4 + 1))
        arr = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))
    return arr


def _boxes_touching(rng, h, w, n):
    """Random boxes, some tiny or degenerate, some reaching past the border, whose squares meet the image."""
    x0, y0 = rng.uniform(-0.3 * w, w, n), rng.uniform(-0.3 * h, h, n)
    bw = rng.uniform(0, 1.2 * w, n) * (rng.random(n) < 0.9)
    bh = rng.uniform(0, 1.2 * h, n)
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], 1)
    left, top, side = square_geometry(boxes)
    return boxes[(left < w) & (top < h) & (left + side > 0) & (top + side > 0)]


# the GPU session (benchmarks/gpu_session.sh) runs this file there too, with CUDA in the list
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(4))
def test_device_crops_equal_pillow_byte_for_byte(seed, device):
    """Down- and upsampling, squares inside, across and beyond the border, several output sizes:
    every pixel equals crops.square_crop's (tolerance 0), with two images in one batch."""
    rng = np.random.default_rng(seed)
    shapes = [(int(rng.integers(20, 260)), int(rng.integers(20, 260))) for _ in range(2)]
    arrays = [_image(rng, h, w, smooth=k == 1) for k, (h, w) in enumerate(shapes)]
    hw = torch.tensor(shapes)
    padded = torch.zeros(2, *hw.max(0).values.tolist(), 3, dtype=torch.uint8)
    boxes, owner = [], []
    for k, ((h, w), a) in enumerate(zip(shapes, arrays, strict=True)):
        padded[k, :h, :w] = torch.from_numpy(a.copy())
        b = _boxes_touching(rng, h, w, 25)
        boxes.append(b)
        owner += [k] * len(b)
    boxes = np.concatenate(boxes)
    for size in (16, 64, 224):
        plan = plan_crops(boxes, np.asarray(owner), size)
        out = crop_resize(padded.to(device), hw.to(device), plan, size=size).cpu().numpy()
        for i, box in enumerate(boxes):
            ref = np.asarray(square_crop(Image.fromarray(arrays[owner[i]]), box, size))
            assert np.array_equal(out[i], ref), (seed, size, i, box)


def test_pillow_weights_sum_to_one_and_an_equal_size_copies():
    start, k = bicubic_weights(64, 64)
    assert np.array_equal(start, np.maximum(np.arange(64) - 1, 0))
    assert all(k[j].max() == 1 << 22 and k[j].sum() == 1 << 22 for j in range(64))
    for n_in, n_out in [(700, 224), (13, 224), (225, 224)]:
        _, k = bicubic_weights(n_in, n_out)
        assert np.abs(k.sum(1) - (1 << 22)).max() <= k.shape[1]  # rounding of each weight only


def test_union_boxes_and_an_unknown_kind():
    h = np.array([[0.0, 5.0, 10.0, 20.0]])
    o = np.array([[4.0, 1.0, 30.0, 8.0]])
    assert kind_boxes(h, o, "union").tolist() == [[0.0, 1.0, 30.0, 20.0]]
    with pytest.raises(ValueError, match="crop kind must be one of"):
        kind_boxes(h, o, "scene")


def test_both_loader_paths_give_the_same_batches(tiny_backbone):
    world, bb = tiny_backbone
    pairs = world.test_pairs()
    index = np.arange(min(30, len(pairs)))
    kinds = ("human", "object", "union")
    got = {
        path: list(
            crop_batches(
                world.test, pairs, kinds, size=48, per_batch=7, device="cpu", index=index, path=path
            )
        )
        for path in ("pil", "device")
    }
    assert [b.shape for b in got["pil"]] == [b.shape for b in got["device"]]
    assert all(torch.equal(a, b) for a, b in zip(got["pil"], got["device"], strict=True))
    img = Image.open(world.test.image_path(int(pairs.image[0]))).convert("RGB")
    first = pair_crop(img, pairs.boxes_h[0], pairs.boxes_o[0], kind="union", size=48)
    assert np.array_equal(got["device"][0][0, 2].numpy(), np.asarray(first))
    with pytest.raises(ValueError, match="crop path must be one of"):
        next(crop_batches(world.test, pairs, kinds, size=48, per_batch=7, device="cpu", path="gpu"))
