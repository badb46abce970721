"""The parameters of a run as typed pydantic sections: type, default, range, allowed values, meaning.

Every parameter a notebook or stage reads is a field of one section (run, world, backbone,
ezhoi, diffusion, bridge, evaluation, consumers, claims), so an unknown name, a wrong type or a value out of
range fails before any work starts, code reads ``cfg.ezhoi.epochs`` instead of looking
strings up in a dict, and a stage keys on its own section (``Section.key()``: every field but
those declared ``key=False``, which choose which runs are made rather than how one trains),
as open_clip's ``CLIPVisionCfg``/``CLIPTextCfg`` group a tower's settings. ``strict`` mode
keeps YAML honest: ``seed: "3"`` or ``seed: true`` is refused, an integer is accepted for a
float. Parameters are named ``section.field`` (``ezhoi.epochs``); the flat names of earlier
releases (``ezhoi_epochs``) are read by ``hoilib.config.profiles`` with a warning. The module is
longer than 300 lines because every parameter's type, range and meaning is declared here, in one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer
from pydantic.fields import FieldInfo

DIFFUSION_T = 1000  # training timesteps of the text diffusion model (hoilib.models.diffusion.model.TRAIN_STEPS)
SYNTH_CROP = (
    64  # the small CLIP's input side in pixels (hoilib.models.backbone.SynthCLIPSpec.image_size)
)

# world fields added after runs were published: a dump leaves them out at these defaults
ALL_PHRASINGS = 1000
LATER_FIELDS = {"vocabulary": "synth", "corpus_phrasings": ALL_PHRASINGS}

Count = Annotated[int, Field(ge=1)]
# upper bounds no machine reaches (a value past them is a typo, not a plan; issue 20): counts of
# images, steps and samples; widths and batch sizes; repeats and layers
Many = Annotated[int, Field(ge=1, le=10_000_000)]
Wide = Annotated[int, Field(ge=1, le=65_536)]
Few = Annotated[int, Field(ge=1, le=10_000)]
NonNeg = Annotated[int, Field(ge=0)]
TStar = Annotated[int, Field(ge=0, le=DIFFUSION_T - 1)]
DDIMSteps = Annotated[int, Field(ge=1, le=DIFFUSION_T)]
Positive = Annotated[float, Field(gt=0)]
Alpha = Annotated[float, Field(ge=0, le=3)]
BridgeT = Annotated[int, Field(ge=1, le=DIFFUSION_T - 1)]  # a start step that bridges (t* > 0)
Lambda = Annotated[float, Field(gt=0, le=1)]  # a blend weight that moves the feature
Shrinkage = Annotated[float, Field(ge=0, le=1)]


def _f(default, description: str, key: bool = True, **kw):
    """A field whose list default is copied per instance; ``key=False`` leaves it out of its section's key."""
    if not key:
        kw["json_schema_extra"] = {"key": False}
    if isinstance(default, list):
        return Field(
            default_factory=lambda: list(default), description=description, min_length=1, **kw
        )
    return Field(default, description=description, **kw)


STRICT = ConfigDict(extra="forbid", strict=True, validate_assignment=True, validate_default=True)


class Section(BaseModel):
    """One group of parameters; ``key()`` is what a stage built from it is keyed on."""

    model_config = STRICT

    def key(self) -> dict[str, Any]:
        """Every field's value (JSON form) except those declared ``key=False``."""
        keep = {
            k
            for k, f in type(self).model_fields.items()
            if (f.json_schema_extra or {}).get("key", True)
        }
        return self.model_dump(mode="json", include=keep)


class RunCfg(Section):
    """Where the run lives, its seed and the machine's kernels."""

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
    cpu_kernels: Literal["portable", "avx2", "native"] = _f(
        "portable",
        "CPU kernels and threads of the chapters (ATen, oneDNN, MKL, OpenBLAS): portable = AVX2 "
        "kernels and the book's 2 threads, so an x86-64 machine with any number of cores adds in "
        "the published order; avx2 = AVX2 kernels, torch's default threads (the cores); native = "
        "the widest kernels this CPU has (see Reproducing)",
    )


class WorldCfg(Section):
    """The dataset: HOI-Synth's generated world or the user's HICO-DET copy, and the zero-shot split."""

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
    seed: NonNeg = _f(
        0, "hoi-synth: seed of the generated world and (with seed) of the backbone pretraining"
    )
    n_train_images: Many = _f(1200, "hoi-synth: training images")
    n_test_images: Many = _f(400, "hoi-synth: test images")
    n_pretrain_images: Many = _f(2500, "hoi-synth: scenes rendered for backbone pretraining")
    caption_verb_share: float = _f(
        0.5,
        "hoi-synth: share of pretraining captions that name the interaction (all name the "
        "object); 0.5 = web alt-text names what is in a photo far more often than what is done",
        gt=0,
        le=1,
    )
    image_size: int = _f(
        160,
        "hoi-synth: image side in pixels (scenes are cut into 64-px crops)",
        ge=SYNTH_CROP,
        le=4096,
    )
    vocabulary: Literal["synth", "hico"] = _f(
        "synth",
        "hoi-synth: the classes the world is drawn over: synth (11 verbs, 14 objects, the default "
        "book's) or hico (HICO-DET's 117 verbs, 80 objects, 600 classes, rare set, zero-shot "
        "splits and prompts; the hico-scale profiles)",
    )
    corpus_phrasings: int = _f(
        ALL_PHRASINGS,
        "hoi-synth: most pretraining-caption phrasings per class in the text corpus (each one a set "
        f"of a sentence per class); {ALL_PHRASINGS} = all the world has (45 a class)",
        ge=0,
        le=ALL_PHRASINGS,
    )

    @model_serializer(mode="wrap")
    def _omit_defaults_of_later_fields(self, handler):
        """``vocabulary`` and ``corpus_phrasings`` are left out of a dump at their defaults, so the
        parameters of every run made before they existed (the run's fingerprint, the chapters'
        cache keys) do not move."""
        data = handler(self)
        for name, default in LATER_FIELDS.items():
            if getattr(self, name) == default:
                data.pop(name, None)
        return data


class BackboneCfg(Section):
    """The CLIP backbone: pretrained here (synth-vit-tiny) or loaded by name, and its feature extraction."""

    name: str = _f(
        "synth-vit-tiny",
        "synth-vit-tiny (pretrained here) or an open_clip model name, e.g. ViT-B-16",
    )
    pretrained: str | None = _f(
        None, "open_clip pretrained tag (e.g. openai) or a local weights file; null = random init"
    )
    steps: Many = _f(200, "synth-vit-tiny: contrastive pretraining steps")
    batch: int = _f(
        256,
        "synth-vit-tiny: pretraining batch size (a contrastive batch needs a negative)",
        ge=2,
        le=65_536,
    )
    lr: Positive = _f(1e-3, "synth-vit-tiny: pretraining learning rate")
    patch_size: int = _f(
        16, "synth-vit-tiny: ViT patch size, a divisor of the 64-px crop", ge=1, le=SYNTH_CROP
    )
    feature_batch: Wide = _f(
        256,
        "crops per batch in feature extraction",
        key=False,  # how features are computed in batches, not how the backbone is pretrained
    )

    @field_validator("patch_size")
    @classmethod
    def _divides_crop(cls, v: int) -> int:
        if SYNTH_CROP % v:
            raise ValueError(
                f"expected a divisor of the {SYNTH_CROP}-px crop (1, 2, 4, 8, 16, 32 or 64)"
            )
        return v


class EZHOICfg(Section):
    """EZ-HOI's text adaptation: how one model trains (its checkpoint's key) and which runs are made."""

    seeds: list[NonNeg] = _f(
        [0, 1, 2],
        "seeds of the EZ-HOI runs (mean +- std over them)",
        key=False,  # which runs are made, not how one trains
    )
    ablation: bool = _f(
        True,
        "train the text-module ablations too (each module off, and all off)",
        key=False,  # which runs are made, not how one trains
    )
    epochs: Few = _f(10, "EZ-HOI training epochs (the best validation epoch is kept)")
    batch_images: Wide = _f(64, "images per EZ-HOI training batch")
    lr: Positive = _f(1e-3, "EZ-HOI AdamW learning rate")
    val_fraction: float = _f(
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
    n_ctx: Few = _f(2, "learnable context tokens per text prompt")
    prompt_kind: Literal["shared", "class"] = _f(
        "class",
        "text prompts: class (the design document's class-specific prompts: a shared context plus "
        "a per-class one; a held-out class gets the mean of its seen relatives', as EZ-HOI builds "
        "unseen prompts from related seen ones) or shared (one learned context for every class)",
        key=False,  # keyed as the model's own prompt kind (an ablation may override it)
    )
    prompt_depth: Few = _f(3, "text layers that get their own deep prompt tokens (MaPLe style)")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list) -> list:
        return distinct(v)


class DiffusionCfg(Section):
    """The text diffusion model: how it trains (its checkpoint's key) and how it is judged."""

    steps: Many = _f(1000, "text diffusion: training steps (the Diffusion Bridge paper trains 3M)")
    batch: Wide = _f(64, "text diffusion: batch size")
    lr: Positive = _f(2e-3, "text diffusion: AdamW learning rate (paper 8e-5 over 3M steps)")
    ema: float = _f(
        0.995, "text diffusion: EMA decay of the saved weights (0 = the raw weights)", ge=0, lt=1
    )
    hidden: Wide = _f(128, "text diffusion: width of the residual MLP denoiser")
    blocks: Few = _f(2, "text diffusion: residual blocks of the denoiser")
    loss: Literal["x0", "snr_x0", "min_snr_x0"] = _f(
        "x0",
        "text diffusion: loss of the x0-predicting denoiser, the batch mean of w(t) * MSE(x0_hat, x0): "
        "x0 = plain MSE (w = 1); snr_x0 = w = SNR(t) = abar/(1 - abar), unclipped, as Diffusion "
        "Bridge's released code (Lee et al., CVPR 2025); min_snr_x0 = w = min(SNR(t), 5), the "
        "min-SNR-gamma weighting of Hang et al. (ICCV 2023)",
    )
    samples: Many = _f(
        500,
        "text diffusion: unconditional samples drawn to judge the model",
        key=False,  # how many samples judge the model, not how it trains
    )


class BridgeCfg(Section):
    """The diffusion bridge of vision features: start step, steps, sweeps, how its strength is chosen."""

    t_start: TStar = _f(599, "bridge: DDIM start step t* (0 = no bridge, 999 = from pure noise)")
    steps: DDIMSteps = _f(5, "bridge: DDIM steps from t* down")
    recipe: Literal["direct", "sdedit"] = _f(
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
    t_grid: list[BridgeT] = _f(
        [199, 399, 599, 799, 999],
        "chapter 5: start steps t* the strength choice tries on validation; the code always adds "
        "the noise-matched t* of the features' width (hoilib.models.diffusion.bridge."
        "noise_matched_t), and t* = 0 (no bridge) is its own row, never a candidate",
    )
    lambdas: list[Lambda] = _f(
        [0.25, 0.5, 0.75, 1.0],
        "chapter 5: blend weights lambda the strength choice tries on validation, "
        "v' = normalize((1 - lambda) v + lambda bridge(v))",
    )

    @field_validator("sweep_t_starts", "sweep_steps", "t_grid", "lambdas")
    @classmethod
    def _distinct(cls, v: list) -> list:
        return distinct(v)


class EvaluationCfg(Section):
    """The measures of chapters 1, 3 and 5: tests, plots, the dose-response, CapDec's baseline."""

    gap_permutations: Many = _f(200, "permutations of the MMD test")
    gap_shift_deltas: list[float] = _f(
        [-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5],
        "shifts along the gap direction (Liang et al.)",
    )
    shuffle_repeats: Few = _f(5, "label permutations of the shuffled-label control")
    umap_points: int = _f(
        600,
        "points per modality in UMAP plots (UMAP needs a neighbour for each point)",
        ge=3,
        le=1_000_000,
    )
    umap_epochs: Many = _f(
        500,
        "UMAP optimisation epochs (500 is umap-learn's own choice below 10,000 points; 200, its "
        "choice above, cut the cold synth book's UMAP time only from 43 to 40 s)",
    )
    dose_alphas: list[Alpha] = _f(
        [0.0, 0.25, 0.5, 1.0, 1.5],
        "chapter 5: text spaces normalize((1 - a) raw + a adapted) of the dose-response",
    )
    capdec_steps: Many = _f(
        300, "CapDec baseline: steps of the text-only classifier trained on noisy text"
    )
    capdec_variance: float = _f(
        0.016,
        "CapDec baseline: variance of the Gaussian noise added to the text while its classifier "
        "trains (0.016, CapDec's own, Nukrai et al. 2022)",
        gt=0,
        le=1,
    )
    capdec_lr: Positive = _f(1e-2, "CapDec baseline: Adam learning rate of its classifier")
    capdec_temperature: Positive = _f(
        0.07, "CapDec baseline: softmax temperature of its prototype classifier"
    )
    decap_temperature: Positive = _f(
        0.01,
        "DeCap baseline: softmax temperature of the projection onto the text memory (a weighted "
        "mean of the corpus's sentences, DeCap's own 0.01, Li et al. 2023)",
    )

    @field_validator("dose_alphas")
    @classmethod
    def _distinct(cls, v: list) -> list:
        return distinct(v)


class ConsumersCfg(Section):
    """Chapter 5's text-only consumers: how each is fitted on the text corpus and judged on held-out text."""

    steps: Many = _f(
        1500,
        "chapter 5: most training steps of a trained text-only consumer (linear, MLP; the step "
        "with the best held-out text loss is kept)",
    )
    hidden: list[Wide] = _f(
        [256], "chapter 5: hidden layer widths of the MLP consumer (GELU between layers)"
    )
    batch: Wide = _f(128, "chapter 5: batch size of the trained text-only consumers")
    lr: Positive = _f(1e-2, "chapter 5: Adam learning rate of the trained text-only consumers")
    noise_variance: float = _f(
        0.016,
        "chapter 5: variance of the CapDec noise on the text batches of the '+ noise' consumers "
        "(0.016, CapDec's own, Nukrai et al. 2022)",
        gt=0,
        le=1,
    )
    check_every: Many = _f(
        100, "chapter 5: training steps between looks at a trained consumer's held-out text loss"
    )
    held_out_share: float = _f(
        0.2,
        "chapter 5: share of the corpus's sentence sets held out of every consumer's fit; they "
        "choose the training step or the shrinkage (at least one set is held out)",
        gt=0,
        lt=1,
    )
    held_out_seed: NonNeg = _f(
        0, "chapter 5: seed of the held-out sentence sets (the same sets for every EZ-HOI seed)"
    )
    shrinkage: list[Shrinkage] = _f(
        [0.001, 0.01, 0.03, 0.1, 0.3, 1.0],
        "chapter 5: candidate shrinkages of the Gaussian (LDA) consumer's covariance toward its "
        "mean variance (0 = none, 1 = isotropic); the held-out text loss chooses one",
    )

    @field_validator("shrinkage")
    @classmethod
    def _distinct(cls, v: list) -> list:
        return distinct(v)


class ClaimsCfg(Section):
    """Chapter 5's rules: the positive control, the verdicts' intervals and level, the geometry rule."""

    control_margin: float = _f(
        1.0,
        "chapter 5: points of mAP a consumer's consistent bridge must gain over no bridge, on "
        "validation and on test Unseen mAP (its interval above 0 too), to pass the positive control",
        ge=0,
        le=100,
    )
    bootstrap_draws: Many = _f(
        2000, "chapter 5: draws of the nested bootstrap (seeds, classes) behind every interval"
    )
    bootstrap_seed: NonNeg = _f(0, "chapter 5: seed of the nested bootstrap's draws")
    level: float = _f(0.95, "chapter 5: coverage of every interval (0.95 = 95%)", gt=0, lt=1)
    alpha: float = _f(
        0.05,
        "chapter 5: a verdict says supported or contradicted only when the (Holm-adjusted) "
        "Wilcoxon p is below alpha",
        gt=0,
        lt=1,
    )
    same_geometry_cka: float = _f(
        0.95,
        "chapter 5: raw and adapted text have the same centred geometry when the corpus's linear "
        "CKA reaches this (and the 10-NN overlap reaches same_geometry_knn)",
        ge=0,
        le=1,
    )
    same_geometry_knn: float = _f(
        0.9,
        "chapter 5: the 10-NN overlap of raw and adapted text the same-geometry rule asks for",
        ge=0,
        le=1,
    )


class Params(BaseModel):
    """One resolved parameter set (defaults <- profile YAML <- overrides), in sections."""

    model_config = STRICT

    run: RunCfg = Field(default_factory=RunCfg, description=RunCfg.__doc__)
    world: WorldCfg = Field(default_factory=WorldCfg, description=WorldCfg.__doc__)
    backbone: BackboneCfg = Field(default_factory=BackboneCfg, description=BackboneCfg.__doc__)
    ezhoi: EZHOICfg = Field(default_factory=EZHOICfg, description=EZHOICfg.__doc__)
    diffusion: DiffusionCfg = Field(default_factory=DiffusionCfg, description=DiffusionCfg.__doc__)
    bridge: BridgeCfg = Field(default_factory=BridgeCfg, description=BridgeCfg.__doc__)
    evaluation: EvaluationCfg = Field(
        default_factory=EvaluationCfg, description=EvaluationCfg.__doc__
    )
    consumers: ConsumersCfg = Field(default_factory=ConsumersCfg, description=ConsumersCfg.__doc__)
    claims: ClaimsCfg = Field(default_factory=ClaimsCfg, description=ClaimsCfg.__doc__)

    def updated(self, values: dict[str, Any]) -> Params:
        """A validated copy with ``{"section.field": value}`` replaced (``resolve`` reads old names too)."""
        data = self.model_dump()
        for name, value in values.items():
            if name not in FIELDS:
                raise ValueError(f"unknown parameter {name!r}; known parameters: {sorted(FIELDS)}")
            section, field = name.split(".")
            data[section][field] = value
        return Params.model_validate(data)


def distinct(v: list) -> list:
    if len(set(v)) != len(v):
        raise ValueError("expected distinct values (a repeat would be counted twice)")
    return v


SECTIONS: dict[str, type[Section]] = {name: f.annotation for name, f in Params.model_fields.items()}


def section_names(section: str) -> tuple[str, ...]:
    """The dotted names of one section's parameters, in schema order."""
    return tuple(f"{section}.{k}" for k in SECTIONS[section].model_fields)


# every parameter by its dotted name, "ezhoi.epochs" -> its field
FIELDS = {
    f"{sec}.{name}": f for sec, cls in SECTIONS.items() for name, f in cls.model_fields.items()
}


def type_name(name: str) -> str:
    """The parameter's type as a user reads it: int, float, str, bool, list[int], str or null."""
    ann = FIELDS[name].annotation
    text = getattr(ann, "__name__", None) if not getattr(ann, "__args__", None) else None
    if text:
        return text
    if get_origin(ann) is list:  # list[int] or list[Annotated[int, bounds]]
        (inner,) = get_args(ann)
        inner = get_args(inner)[0] if get_origin(inner) is Annotated else inner
        return f"list[{inner.__name__}]"
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
        if isinstance(m, FieldInfo):  # a list element's Annotated[int, Field(ge=...)]
            out |= _bounds(m.metadata)
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
    """'>= 1', 'in [0, 999]', 'in (0, 1)', 'in [1, 10,000,000]', 'one of a, b' or ''."""
    choices = allowed(name)
    if choices:
        return "one of " + ", ".join(choices)
    b = bounds(name)
    lo = ("(" if "gt" in b else "[", b.get("gt", b.get("ge")))
    hi = (")" if "lt" in b else "]", b.get("lt", b.get("le")))
    if lo[1] is None and hi[1] is None:
        return "any number" if type_name(name) in ("float", "list[float]") else ""
    if hi[1] is None:
        return f"{'>' if 'gt' in b else '>='} {_num(lo[1])}"
    if lo[1] is None:
        return f"{'<' if 'lt' in b else '<='} {_num(hi[1])}"
    return f"in {lo[0]}{_num(lo[1])}, {_num(hi[1])}{hi[0]}"


def _num(x: float) -> str:
    """A bound as a reader types it: 10,000,000 rather than 1e+07."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def allowed(name: str) -> tuple[str, ...]:
    """The allowed values of a choice parameter, else ()."""
    ann = FIELDS[name].annotation
    if str(ann).startswith("typing.Literal"):
        return tuple(ann.__args__)
    return ()
