"""Cached chapter results: exact round trip, reuse only under the same key, never trust a damaged copy."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd

from hoilib import artifacts, exactjson, memo
from hoilib.config import resolve


def _ch(tmp_path, **over):
    (tmp_path / "world").mkdir(exist_ok=True)
    (tmp_path / "world" / "instances_test2015.json").write_text(over.pop("test", "{}"))
    cfg = resolve("smoke", {"run.run_dir": str(tmp_path / "run"), **over})
    return SimpleNamespace(cfg=cfg, world=SimpleNamespace(root=tmp_path / "world"))


def _value():
    df = pd.DataFrame(
        {"full": [0.1 + 0.2, None], "seed": [0, 1], "method": ["a", "b"]},
        index=pd.Index(["x", "y"], name="text"),
    )
    records = [{"t": 100, "noised": 0.25, "denoised": 1 / 3}, {"t": 500, "noised": 0.1}]
    return {"df": df, "ap": {("a", 0): np.array([0.5, np.nan])}, "n": 3, "rows": records}


def test_round_trip_is_exact():
    v = _value()
    back = exactjson.decode(json.loads(artifacts.dumps_json(exactjson.encode(v))))
    pd.testing.assert_frame_equal(back["df"], v["df"])
    assert np.array_equal(back["ap"][("a", 0)], v["ap"][("a", 0)], equal_nan=True)
    assert back["n"] == 3
    assert back["rows"] == v["rows"] and isinstance(back["rows"][0]["t"], int)


def _same(a, b) -> bool:
    """Equal values of equal types, all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        return True
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    return a == b


def test_every_type_the_chapters_store_comes_back_with_its_type():
    """The lossy cases issue 19 found (list[int] -> float array, int keys -> strings, list[str]
    raised) and the rest of what a chapter stores."""
    v = {
        "ints": [3, 1, 2],
        "strs": ["rf-uc", "uv"],
        "floats": [0.1 + 0.2, float("nan"), float("inf")],
        "mixed": (1, "a", None, True),
        "by_int": {0: 1.5, 7: [1, 2]},
        "by_tuple": {("a", 0): np.array([0.5, np.nan]), ("b", 1): np.array([1.0, 2.0])},
        "by_float": {0.25: "quarter"},
        "int_array": np.arange(6, dtype=np.int64).reshape(2, 3),
        "bool_array": np.array([True, False]),
        "f32_array": np.array([1 / 3], dtype=np.float32),
        "str_array": np.array(["x", "yy"]),
        "scalar": np.float64(2.5),
        "records": [{"t": 100, "kind": "MLP", "ok": False}],
        "nested": {"inner": {"k": [{"a": (1, 2)}]}},
        "empty": [],
        "none": None,
    }
    back = exactjson.decode(json.loads(artifacts.dumps_json(exactjson.encode(v))))
    expected = {**v, "scalar": 2.5}  # a numpy scalar comes back as the Python number it equals
    for k in v:
        assert _same(back[k], expected[k]), k


def test_reused_under_the_same_key_recomputed_when_params_or_world_change(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _value()

    ch = _ch(tmp_path)
    memo.cached(ch, "t", compute, code="hoilib.memo")
    memo.cached(ch, "t", compute, code="hoilib.memo")
    assert len(calls) == 1
    memo.cached(_ch(tmp_path, umap_points=7), "t", compute, code="hoilib.memo")
    assert len(calls) == 2
    memo.cached(_ch(tmp_path, test='{"changed": 1}'), "t", compute, code="hoilib.memo")
    assert len(calls) == 3
    # paths do not change the numbers, so a moved run folder keeps its key
    moved = _ch(tmp_path, stage_dir=str(tmp_path / "s"))  # (also writes the world back)
    assert memo.entry(ch, "t", "hoilib.memo").key == memo.entry(moved, "t", "hoilib.memo").key


def test_a_damaged_copy_is_recomputed(tmp_path):
    ch = _ch(tmp_path)
    memo.cached(ch, "t", _value, code="hoilib.memo")
    (path,) = (tmp_path / "run" / "cache").glob("t-*.json")
    path.write_text("{not json")
    back = memo.cached(ch, "t", _value, code="hoilib.memo")
    assert back["n"] == 3 and json.loads(path.read_text())["n"] == 3


def test_a_cached_umap_is_read_back_without_fitting_and_refit_when_the_data_change(
    tmp_path, monkeypatch
):
    from hoilib.figures import umap_fit

    rng = np.random.default_rng(0)
    sets = {"a": rng.normal(size=(30, 8)), "b": rng.normal(size=(30, 8)) + 1}
    first = umap_fit.umap_embedding(sets, n_per_set=20, seed=0, cache_dir=tmp_path)

    def no_fit(*a, **k):
        raise AssertionError("refitted although nothing changed")

    monkeypatch.setattr(umap_fit, "_fit_umap", no_fit)
    again = umap_fit.umap_embedding(sets, n_per_set=20, seed=0, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    changed = {"a": sets["a"] + 0.5, "b": sets["b"]}
    for what, data, epochs in (("data", changed, 500), ("n_epochs", sets, 200)):
        try:
            umap_fit.umap_embedding(data, n_per_set=20, seed=0, cache_dir=tmp_path, n_epochs=epochs)
        except AssertionError as e:
            assert "refitted" in str(e)
        else:
            raise AssertionError(f"changed {what} were read from the cache")


def test_umaps_uncached_numba_kernels_are_cached_on_disk():
    """umap-learn's kernels declared without cache=True get numba's disk cache, once."""
    import umap
    from numba.core.caching import NullCache

    from hoilib.figures import umap_fit

    umap_fit._cached_kernels()
    for kernel in (umap.utils.fast_knn_indices, umap.umap_.smooth_knn_dist):
        assert not isinstance(kernel._cache, NullCache)
    assert umap_fit._cached_kernels() == 0  # nothing left to switch


def test_text_spaces_are_read_back_only_for_the_same_checkpoint(tiny_experiment, tmp_path):
    """The stored spaces equal a fresh extraction; another checkpoint file is another entry."""
    import torch

    from hoilib.models import textspace
    from hoilib.models.ezhoi.ezhoi_stage import checkpoint_path

    cfg, world, data, _, run = tiny_experiment
    ckpt = checkpoint_path(cfg.run, data.split, "full", seed=run.seed)
    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone

    bb = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    first = textspace.extract_cached(
        run.model, world, bb.tokenizer, checkpoint=ckpt, folder=tmp_path
    )
    again = textspace.extract_cached(
        run.model, world, bb.tokenizer, checkpoint=ckpt, folder=tmp_path
    )
    assert torch.equal(first.adapted_corpus, again.adapted_corpus)
    assert first.fingerprint == again.fingerprint == run.space.fingerprint
    from hoilib import artifacts

    tensors, meta = artifacts.load_tensors(ckpt)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1e-3  # other weights under the same file stem
    other = artifacts.save_tensors(tmp_path / "moved" / ckpt.name, tensors, meta)
    textspace.extract_cached(run.model, world, bb.tokenizer, checkpoint=other, folder=tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2  # one entry per checkpoint content
