"""The parameters of a run as one typed pydantic model: type, default, range, allowed values, meaning.

Every parameter a notebook or stage reads is a field here, so an unknown name, a
wrong type or a value out of range fails before any work starts, and code reads
``cfg.seed`` instead of looking strings up in a dict. ``strict`` mode keeps YAML
honest: ``seed: "3"`` or ``seed: true`` is refused, an integer is accepted for a float.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DIFFUSION_T = 1000  # training timesteps of the text diffusion model (hoilib.models.diffusion.model.TRAIN_STEPS)
SYNTH_CROP = (
    64  # the small CLIP's input side in pixels (hoilib.models.backbone.SynthCLIPSpec.image_size)
)

Count = Annotated[int, Field(ge=1)]
NonNeg = Annotated[int, Field(ge=0)]
TStar = Annotated[int, Field(ge=0, le=DIFFUSION_T - 1)]
DDIMSteps = Annotated[int, Field(ge=1, le=DIFFUSION_T)]
Positive = Annotated[float, Field(gt=0)]
Alpha = Annotated[float, Field(ge=0, le=3)]


def _f(default, description: str, **kw):
    """A field whose list default is copied per instance."""
    if isinstance(default, list):
        return Field(
            default_factory=lambda: list(default), description=description, min_length=1, **kw
        )
    return Field(default, description=description, **kw)


class Params(BaseModel):
    """One resolved parameter set (defaults <- profile YAML <- overrides)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, validate_assignment=True, validate_default=True
    )

    profile: str = _f("smoke", "profile name this set came from")
    run_dir: str = _f("", "folder of the run's artifacts; '' = runs/<profile>")
    stage_dir: str = _f(
        "",
        "folder of the reusable stages (world, backbone, features, checkpoints); '' = run_dir. "
        "Runs that differ only in split can share one (every stage's cache key says what it used)",
    )
    seed: NonNeg = _f(0, "seed of every random choice after the world is built")
    device: str = _f(
        "auto",
        "torch device: auto (CUDA when present), cpu, cuda, cuda:1",
        pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
    )
    cpu_kernels: Literal["avx2", "native"] = _f(
        "avx2",
        "x86-64 CPU kernels of the chapters (ATen, oneDNN, MKL): avx2 = the same on every AVX2 machine, "
        "so numbers agree across machines with one thread count; native = the widest this CPU has "
        "(AVX-512 moves them; see Reproducing)",
    )
    dataset: Literal["hoi-synth", "hico-det"] = _f(
        "hoi-synth", "hoi-synth (generated here) or hico-det (the user's copy)"
    )
    data_root: str = _f(
        "",
        "hico-det: folder with instances_*2015.json and images/; hoi-synth: '' = <run_dir>/world",
    )
    split: Literal["uv", "rf-uc", "nf-uc", "uo"] = _f(
        "rf-uc", "zero-shot split: uv, rf-uc, nf-uc or uo"
    )
    pair_source: str = _f(
        "gt",
        "test pairs: gt (annotated/oracle boxes) or a detections JSON file "
        "(see hoilib/data/detections.py)",
    )
    world_seed: NonNeg = _f(
        0, "hoi-synth: seed of the generated world and (with seed) of the backbone pretraining"
    )
    n_train_images: Count = _f(1200, "hoi-synth: training images")
    n_test_images: Count = _f(400, "hoi-synth: test images")
    n_pretrain_images: Count = _f(2500, "hoi-synth: scenes rendered for backbone pretraining")
    caption_verb_share: float = _f(
        0.5,
        "hoi-synth: share of pretraining captions that name the interaction (all name the "
        "object); 0.5 = web alt-text names what is in a photo far more often than what is done",
        gt=0,
        le=1,
    )
    image_size: int = _f(
        160, "hoi-synth: image side in pixels (scenes are cut into 64-px crops)", ge=SYNTH_CROP
    )
    backbone: str = _f(
        "synth-vit-tiny",
        "synth-vit-tiny (pretrained here) or an open_clip model name, e.g. ViT-B-16",
    )
    pretrained: str | None = _f(
        None, "open_clip pretrained tag (e.g. openai) or a local weights file; null = random init"
    )
    pretrain_steps: Count = _f(200, "synth-vit-tiny: contrastive pretraining steps")
    pretrain_batch: int = _f(
        256, "synth-vit-tiny: pretraining batch size (a contrastive batch needs a negative)", ge=2
    )
    pretrain_lr: Positive = _f(1e-3, "synth-vit-tiny: pretraining learning rate")
    patch_size: int = _f(
        16, "synth-vit-tiny: ViT patch size, a divisor of the 64-px crop", ge=1, le=SYNTH_CROP
    )
    feature_batch: Count = _f(256, "crops per batch in feature extraction")
    gap_permutations: Count = _f(200, "permutations of the MMD test")
    gap_shift_deltas: list[float] = _f(
        [-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5],
        "shifts along the gap direction (Liang et al.)",
    )
    shuffle_repeats: Count = _f(5, "label permutations of the shuffled-label control")
    umap_points: int = _f(
        600, "points per modality in UMAP plots (UMAP needs a neighbour for each point)", ge=3
    )
    umap_epochs: Count = _f(
        500,
        "UMAP optimisation epochs (500 is umap-learn's own choice below 10,000 points; 200, its "
        "choice above, cut the cold synth book's UMAP time only from 43 to 40 s)",
    )
    ezhoi_epochs: Count = _f(10, "EZ-HOI training epochs (the best validation epoch is kept)")
    ezhoi_batch_images: Count = _f(64, "images per EZ-HOI training batch")
    ezhoi_lr: Positive = _f(1e-3, "EZ-HOI AdamW learning rate")
    ezhoi_val_fraction: float = _f(
        0.1, "share of training images held out to choose EZ-HOI's best epoch", gt=0, lt=1
    )
    bridge_val_fraction: float = _f(
        0.1,
        "share of training images held out (apart from EZ-HOI's) to choose chapter 5's bridge "
        "strengths; each pseudo-unseen class gets positives there first",
        gt=0,
        lt=1,
    )
    pseudo_unseen_share: float = _f(
        0.1,
        "share of the classes (UC), verbs (UV) or objects (UO) of the seen classes held out of "
        "EZ-HOI's training as pseudo-unseen validation classes, picked as the split picks its "
        "unseen ones (0 = none)",
        ge=0,
        lt=1,
    )
    ezhoi_seeds: list[NonNeg] = _f([0, 1, 2], "seeds of the EZ-HOI runs (mean +- std over them)")
    ezhoi_ablation: bool = _f(
        True, "train the text-module ablations too (each module off, and all off)"
    )
    n_ctx: Count = _f(2, "learnable context tokens per text prompt")
    prompt_kind: Literal["shared", "class"] = _f(
        "shared",
        "text prompts: shared (one learned context for every class) or class (plus a per-class "
        "context; a held-out class gets the mean of its seen relatives', as EZ-HOI builds "
        "unseen prompts from related seen ones)",
    )
    prompt_depth: Count = _f(3, "text layers that get their own deep prompt tokens (MaPLe style)")
    diffusion_steps: Count = _f(
        1000, "text diffusion: training steps (the Diffusion Bridge paper trains 3M)"
    )
    diffusion_batch: Count = _f(64, "text diffusion: batch size")
    diffusion_lr: Positive = _f(
        2e-3, "text diffusion: AdamW learning rate (paper 8e-5 over 3M steps)"
    )
    diffusion_ema: float = _f(
        0.995, "text diffusion: EMA decay of the saved weights (0 = the raw weights)", ge=0, lt=1
    )
    diffusion_hidden: Count = _f(128, "text diffusion: width of the residual MLP denoiser")
    diffusion_blocks: Count = _f(2, "text diffusion: residual blocks of the denoiser")
    diffusion_loss: Literal["x0", "snr_x0", "min_snr_x0"] = _f(
        "x0",
        "text diffusion: loss of the x0-predicting denoiser, the batch mean of w(t) * MSE(x0_hat, x0): "
        "x0 = plain MSE (w = 1); snr_x0 = w = SNR(t) = abar/(1 - abar), unclipped, as Diffusion "
        "Bridge's released code (Lee et al., CVPR 2025); min_snr_x0 = w = min(SNR(t), 5), the "
        "min-SNR-gamma weighting of Hang et al. (ICCV 2023)",
    )
    diffusion_samples: Count = _f(
        500, "text diffusion: unconditional samples drawn to judge the model"
    )
    bridge_t_start: TStar = _f(
        599, "bridge: DDIM start step t* (0 = no bridge, 999 = from pure noise)"
    )
    bridge_steps: DDIMSteps = _f(5, "bridge: DDIM steps from t* down")
    bridge_recipe: Literal["direct", "sdedit"] = _f(
        "direct",
        "bridge: direct (feed the centred vision feature as x_t) or sdedit (noise it to t* first)",
    )
    sweep_t_starts: list[TStar] = _f([0, 199, 399, 599, 799, 999], "bridge sweep: start steps t*")
    sweep_steps: list[DDIMSteps] = _f(
        [1, 2, 5, 10, 20], "bridge sweep: DDIM step counts (at the default t*)"
    )
    strength_by: Literal["pseudo-unseen", "seen"] = _f(
        "pseudo-unseen",
        "chapter 5: the validation classes whose mAP chooses the bridge strength (pseudo-unseen "
        "falls back to seen when the split holds none out)",
    )
    consumer_steps: Count = _f(
        1500,
        "chapter 5: most training steps of a text-only consumer (the step with the best held-out "
        "text loss is kept)",
    )
    consumer_hidden: list[Count] = _f(
        [256], "chapter 5: hidden layer widths of the MLP consumer (GELU between layers)"
    )
    consumer_batch: Count = _f(128, "chapter 5: batch size of the trained text-only consumers")
    dose_alphas: list[Alpha] = _f(
        [0.0, 0.25, 0.5, 1.0, 1.5],
        "chapter 5: text spaces normalize((1 - a) raw + a adapted) of the dose-response",
    )
    capdec_steps: Count = _f(
        300, "CapDec baseline: steps of the text-only classifier trained on noisy text"
    )

    @field_validator("ezhoi_seeds", "sweep_t_starts", "sweep_steps", "dose_alphas")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("expected distinct values (a repeat would be counted twice)")
        return v

    @field_validator("patch_size")
    @classmethod
    def _divides_crop(cls, v: int) -> int:
        if SYNTH_CROP % v:
            raise ValueError(
                f"expected a divisor of the {SYNTH_CROP}-px crop (1, 2, 4, 8, 16, 32 or 64)"
            )
        return v


FIELDS = Params.model_fields


def type_name(name: str) -> str:
    """The parameter's type as a user reads it: int, float, str, bool, list[int], str or null."""
    ann = FIELDS[name].annotation
    text = getattr(ann, "__name__", None) if not getattr(ann, "__args__", None) else None
    if text:
        return text
    s = str(ann).replace("typing.", "")
    if s.startswith("Literal"):
        return "str"
    if "None" in s:
        return "str or null"
    inner = getattr(ann, "__args__", (None,))[0]
    base = getattr(getattr(inner, "__origin__", inner), "__name__", None) or str(inner)
    return f"list[{base}]"


def _bounds(meta) -> dict:
    out = {}
    for m in meta:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(m, key, None) is not None:
                out[key] = getattr(m, key)
    return out


def bounds(name: str) -> dict:
    """{'ge': 1, 'lt': 1, ...} of a number or of each element of a list parameter."""
    f = FIELDS[name]
    out = _bounds(f.metadata)
    for arg in getattr(f.annotation, "__args__", ()) or ():
        out |= _bounds(getattr(arg, "__metadata__", ()))
    return out


def range_text(name: str) -> str:
    """'>= 1', 'in [0, 999]', 'in (0, 1)', 'one of a, b' or ''."""
    choices = allowed(name)
    if choices:
        return "one of " + ", ".join(choices)
    b = bounds(name)
    lo = ("(" if "gt" in b else "[", b.get("gt", b.get("ge")))
    hi = (")" if "lt" in b else "]", b.get("lt", b.get("le")))
    if lo[1] is None and hi[1] is None:
        return "any number" if type_name(name) in ("float", "list[float]") else ""
    if hi[1] is None:
        return f"{'>' if 'gt' in b else '>='} {lo[1]:g}"
    if lo[1] is None:
        return f"{'<' if 'lt' in b else '<='} {hi[1]:g}"
    return f"in {lo[0]}{lo[1]:g}, {hi[1]:g}{hi[0]}"


def allowed(name: str) -> tuple[str, ...]:
    """The allowed values of a choice parameter, else ()."""
    ann = FIELDS[name].annotation
    if str(ann).startswith("typing.Literal"):
        return tuple(ann.__args__)
    return ()
