"""Shared fixtures: a tiny HOI-Synth world and backbone, built once per test session."""

from __future__ import annotations

import pytest
import torch

from hoilib.data.synth.world import WorldSpec, generate_world

TINY = WorldSpec(seed=3, n_train_images=40, n_test_images=20, n_pretrain_images=30, image_size=128)
# the tiny world's spec and the smallest pretraining, as profile parameters (the fixtures and test_prepare use them)
TINY_PARAMS = {
    "world.seed": TINY.seed,
    "world.n_train_images": TINY.n_train_images,
    "world.n_test_images": TINY.n_test_images,
    "world.n_pretrain_images": TINY.n_pretrain_images,
    "world.image_size": TINY.image_size,
    "backbone.steps": 2,
    "backbone.batch": 16,
}
# The shortest training and evaluation budgets a whole-book run on another world (hico-fixture,
# hico-scale-ci) takes: every chapter's code runs as on the profile's budgets (sweeps, seeds and
# worlds kept), on fewer steps. What those budgets compute is pinned on the smoke book (test_pinned).
SHORT_BUDGETS = {
    "ezhoi.epochs": 1,
    "diffusion.steps": 10,
    "diffusion.samples": 10,
    "consumers.steps": 10,
    "consumers.check_every": 5,
    "evaluation.gap_permutations": 5,
    "evaluation.capdec_steps": 2,
}


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    generate_world(root, TINY)
    return root


@pytest.fixture(scope="session")
def tiny_cfg(tmp_path_factory, tiny_world):
    from hoilib.config import resolve

    run_dir = tmp_path_factory.mktemp("run")
    return resolve(
        "smoke",
        {
            "run.run_dir": str(run_dir),
            "world.data_root": str(tiny_world),
            **TINY_PARAMS,
        },
    )


@pytest.fixture(scope="session")
def tiny_backbone(tiny_cfg):
    from hoilib.data.build import prepare_world
    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone

    torch.manual_seed(0)
    world = prepare_world(tiny_cfg)
    return world, prepare_backbone(
        tiny_cfg.backbone, tiny_cfg.run, world, seed=backbone_seed(tiny_cfg)
    )


@pytest.fixture(scope="session")
def tiny_experiment(tiny_backbone, tiny_cfg):
    """Chapter 5's inputs on the tiny world, seed 0: (cfg, world, split data, context, seed run)."""
    from hoilib.models.seedrun import seed_run
    from hoilib.models.split_data import split_data
    from hoilib.ordering.methods import make_context

    world, bb = tiny_backbone
    cfg = tiny_cfg.updated({"ezhoi.epochs": 1, "diffusion.steps": 30})
    data = split_data(cfg, world, bb, split=cfg.world.split)
    return (
        cfg,
        world,
        data,
        make_context(world, bb, data),
        seed_run(cfg, bb, world, data=data, seed=0, show_progress=False),
    )


def pil_batch(bb, images) -> torch.Tensor:
    """PIL crops (already at the backbone's image size) as its normalised float batch: the plain
    path the tests compare the feature extraction against."""
    import numpy as np

    from hoilib.models.backbone import normalize_uint8

    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images])
    return normalize_uint8(torch.from_numpy(arr).permute(0, 3, 1, 2), bb.mean, bb.std)


def _trained_states(cfg, bb, world, trains, val, trained, epochs: int) -> list[dict]:
    """EZ-HOI's weights after training from the same seed on each of ``trains``, with the same validation
    set and trained classes: tests compare them to show what training does not read."""
    from hoilib.models.ezhoi.ezhoi_stage import build_model
    from hoilib.models.ezhoi.train import train_ezhoi

    states = []
    for train in trains:
        torch.manual_seed(0)
        model = build_model(cfg.ezhoi, bb, world)
        train_ezhoi(
            model,
            train,
            val,
            classes=world.classes,
            seen=trained,
            epochs=epochs,
            batch_images=8,
            seed=0,
            show_progress=False,
        )
        states.append(model.state_dict())
    return states


@pytest.fixture
def trained_states():
    """``_trained_states``, for tests that check training ignores something."""
    return _trained_states


@pytest.fixture(autouse=True)
def _restore_deterministic_mode():
    """seed_everything turns on torch's deterministic algorithms for the whole process; a test that calls it
    (e.g. prepare's main in-process) must not change which kernels a later test's torch code uses."""
    on, warn = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    yield
    torch.use_deterministic_algorithms(on, warn_only=warn)


@pytest.fixture(scope="session")
def figure_report(tmp_path_factory):
    """Where the smoke run's kernels write the figure check's JSON lines (hoilib.figures.figure_watch)."""
    return tmp_path_factory.getbasetemp() / "figure-check.jsonl"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, figure_report):
    """Every chapter on the smoke profile and its HTML book, once per session: (run_dir, html, timings).

    Every figure the chapters draw is checked in their kernels, into ``figure_report`` (tests/test_figures.py).
    """
    from hoilib.figures import figure_watch
    from hoilib.publish.book import build_book
    from hoilib.run.runner import run_profile

    run_dir = tmp_path_factory.mktemp("smoke-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(figure_watch.ENV, str(figure_report))
        timings = run_profile("smoke", {"run.run_dir": str(run_dir)}, log=lambda *a: None)
    html = build_book(run_dir, tmp_path_factory.mktemp("book"))
    return run_dir, html, timings
