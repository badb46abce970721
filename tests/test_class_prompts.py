"""Class-specific prompts: per-class context that trains, and held-out classes that borrow their relatives'."""

from __future__ import annotations

import numpy as np
import torch

from hoilib.models.ezhoi.ezhoi_stage import ABLATIONS, build_model
from hoilib.models.ezhoi.prompts import related_classes


def test_related_classes_share_a_verb_or_an_object():
    classes = [(0, 0), (1, 0), (0, 1), (2, 2)]
    r = related_classes(classes, np.array([True, True, False, False]))
    assert torch.equal(r[0], torch.tensor([1.0, 0, 0, 0]))
    assert torch.allclose(r[2], torch.tensor([1.0, 0, 0, 0]))  # verb 0 shared with class 0 only
    assert torch.allclose(r[3], torch.tensor([0.5, 0.5, 0, 0]))  # no relative: every trained class


def test_class_prompts_start_as_the_shared_ones_train_and_carry_over_to_held_out_classes(
    tiny_experiment,
):
    cfg, world, data, ctx, run = tiny_experiment
    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone

    bb = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    shared = build_model(
        cfg.ezhoi, bb, world, flags=ABLATIONS["shared prompts"], trained=data.trained
    )
    torch.manual_seed(0)
    model = build_model(cfg.ezhoi, bb, world, flags=ABLATIONS["full"], trained=data.trained)
    model.load_state_dict(shared.state_dict(), strict=False)
    assert model.cfg.prompt_kind == "class" and model.text_encoder.class_ctx is not None
    with torch.no_grad():
        assert torch.allclose(model.text_features(), shared.text_features(), atol=1e-6)
    feats = model.text_features()
    feats.sum().backward()
    g = model.text_encoder.class_ctx.grad
    trained = torch.as_tensor(data.trained)
    assert g[trained].abs().sum() > 0 and g[~trained].abs().sum() == 0  # held-out rows never train
    with torch.no_grad():
        model.text_encoder.class_ctx[trained] += 0.3
        moved = model.text_features()
    held = torch.nonzero(~trained).flatten()
    # they borrow their relatives' context
    assert not torch.allclose(moved[held], feats.detach()[held])
