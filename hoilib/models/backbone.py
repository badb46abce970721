"""CLIP backbones: any open_clip model by name, or a small one pretrained here on HOI-Synth.

It is longer than 300 lines because the small CLIP's definition, pretraining and loading are the
backbone stage's code: its key hashes this module's import closure (``hoilib.codekey``), so a
change to any of them retrains the backbone.

The small model is an ordinary open_clip ``CLIP`` with a word-level vocabulary
(HOI-Synth's text is closed, so a 49k BPE table would only cost time), trained
with open_clip's own ``ClipLoss``. Contrastive training from a random start keeps
the two towers in separate cones: the modality gap chapter 1 measures.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from PIL import Image

from hoilib import artifacts
from hoilib.data.images import open_rgb
from hoilib.errors import ArtifactError, ConfigError
from hoilib.pool import ordered_map, workers
from hoilib.progress import tqdm

# HOI-Tiny-ViT: a 2-layer open_clip architecture registered under a name, so the CPU
# test of the HICO-DET path loads a random-init model through the same code as ViT-B-16.
open_clip.add_model_config(Path(__file__).parent / "model_configs")

SYNTH_BACKBONE = "synth-vit-tiny"
_WORD = re.compile(r"[a-z_]+")


class WordTokenizer:
    """Word-level tokenizer with open_clip's calling convention (list of str -> LongTensor).

    Ids: 0 = padding, 1..V = words, V+1 = start, V+2 = end of text. The end token
    has the largest id, so open_clip's argmax pooling finds it.
    """

    def __init__(self, words: Sequence[str], context_length: int = 32):
        self.words = sorted(set(words))
        self.index = {w: i + 1 for i, w in enumerate(self.words)}
        self.sot = len(self.words) + 1
        self.eot = len(self.words) + 2
        self.vocab_size = self.eot + 1
        self.context_length = context_length

    @classmethod
    def from_corpus(cls, texts: Sequence[str], context_length: int = 32) -> WordTokenizer:
        words = set()
        for t in texts:
            words.update(_WORD.findall(t.lower()))
        return cls(sorted(words), context_length)

    def encode(self, text: str) -> list[int]:
        ids = []
        for w in _WORD.findall(text.lower()):
            if w not in self.index:
                raise ConfigError(
                    f"word {w!r} in text {text!r} is not in the backbone's vocabulary "
                    f"({len(self.words)} words learned from the HOI-Synth corpus)"
                )
            ids.append(self.index[w])
        return ids

    def __call__(
        self, texts: str | Sequence[str], context_length: int | None = None
    ) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        n = context_length or self.context_length
        out = torch.zeros(len(texts), n, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.sot] + self.encode(t)[: n - 2] + [self.eot]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


@dataclass(frozen=True, kw_only=True)
class SynthCLIPSpec:
    """Shape of the small CLIP: a 64-px ViT and a 3-layer text transformer, both 128 wide."""

    embed_dim: int = 128
    image_size: int = 64
    patch_size: int = 16
    vision_width: int = 128
    vision_layers: int = 3
    text_width: int = 128
    text_layers: int = 3
    heads: int = 4
    context_length: int = 20
    init_logit_scale: float = math.log(100.0)


def build_synth_clip(spec: SynthCLIPSpec, vocab_size: int, seed: int = 0) -> CLIP:
    torch.manual_seed(seed)
    vision = CLIPVisionCfg(
        layers=spec.vision_layers,
        width=spec.vision_width,
        head_width=spec.vision_width // spec.heads,
        patch_size=spec.patch_size,
        image_size=spec.image_size,
    )
    text = CLIPTextCfg(
        context_length=spec.context_length,
        vocab_size=vocab_size,
        width=spec.text_width,
        heads=spec.heads,
        layers=spec.text_layers,
    )
    return CLIP(
        embed_dim=spec.embed_dim,
        vision_cfg=vision,
        text_cfg=text,
        init_logit_scale=spec.init_logit_scale,
    )


@dataclass(kw_only=True)
class Backbone:
    """A CLIP model with its tokenizer and the pixel normalisation its image tower expects."""

    model: CLIP
    tokenizer: object
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    fingerprint: str
    history: dict | None = None

    @torch.no_grad()
    def encode_text(
        self, texts: Sequence[str], device: str = "cpu", batch_size: int = 256
    ) -> torch.Tensor:
        """L2-normalised text features."""
        self.model.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(list(texts[i : i + batch_size])).to(device)
            out.append(F.normalize(self.model.encode_text(tok).float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim)

    def describe(self) -> str:
        """One line on what this backbone is and, for the small CLIP, how it was trained."""
        n = sum(p.numel() for p in self.model.parameters()) / 1e6
        line = f"{self.name}: {n:.2f} M parameters, {self.image_size}-px crops, {self.embed_dim}-d embeddings"
        h = self.history
        if h:
            line += f"; pretrained here for {h['steps']} steps on {h['n_pairs']} crop-caption pairs in {h['seconds']} s"
        return line

    @property
    def embed_dim(self) -> int:
        return (
            int(self.model.text_projection.shape[1])
            if self.model.text_projection is not None
            else 0
        )


def normalize_uint8(x: torch.Tensor, mean, std) -> torch.Tensor:
    x = x.float() / 255.0
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


SYNTH_MEAN = (0.5, 0.5, 0.5)
SYNTH_STD = (0.25, 0.25, 0.25)


# pretraining crops above which several processes read them (HICO-DET's size: 195,712; the
# default book's few thousand stay in this process)
POOL_MIN_CROPS = 20_000


def _read_crops(job: tuple[Path, list[str], int]) -> np.ndarray:
    """uint8 (n, size, size, 3): one chunk of pretraining crops, read (and resized) in order."""
    world_root, files, size = job
    arr = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        im = open_rgb(world_root / f, f"pretraining crop listed in {world_root / 'captions.json'}")
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BICUBIC)
        arr[i] = np.asarray(im)
    return arr


def _load_crops(world_root: Path, records: list[dict], size: int) -> torch.Tensor:
    """Every pretraining crop, (n, 3, size, size) uint8, in record order: one process for a small
    world, every core for a large one (the same bytes either way)."""
    files = [r["file"] for r in records]
    n_workers = workers(len(files), POOL_MIN_CROPS)
    step = 1000
    jobs = [(world_root, files[i : i + step], size) for i in range(0, len(files), step)]
    arr = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    chunks = ordered_map(_read_crops, jobs, n_workers, desc="loading pretraining crops")
    for k, chunk in enumerate(chunks):
        arr[k * step : k * step + len(chunk)] = chunk
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def pretrain_synth_clip(
    world_root: str | Path,
    out_path: str | Path,
    spec: SynthCLIPSpec,
    *,
    extra_texts: Sequence[str],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    show_progress: bool = True,
    device: str = "cpu",
) -> Path:
    """Contrastively pretrain the small CLIP on the world's caption corpus; save safetensors + metadata.

    ``device``: where the model trains. The batches are drawn and augmented on the CPU either
    way, so the CPU's run is the same operations as before the option existed.
    """
    dev = torch.device(device)
    world_root = Path(world_root)
    records = artifacts.read_json(world_root / "captions.json", "caption corpus")["captions"]
    captions = [r["caption"] for r in records]
    tokenizer = WordTokenizer.from_corpus(list(captions) + list(extra_texts), spec.context_length)
    model = build_synth_clip(spec, tokenizer.vocab_size, seed).to(dev)
    images = _load_crops(world_root, records, spec.image_size)
    tokens = tokenizer(captions)
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.98))
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))
        ),
    )
    from hoilib.seed import seed_everything

    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    losses, t0 = [], time.time()
    model.train()
    # disabled only when asked: an explicit disable=False would override TQDM_DISABLE (batch runs)
    bar = tqdm(
        range(steps),
        desc="pretraining the small CLIP",
        leave=False,
        **({} if show_progress else {"disable": True}),
    )
    for _ in bar:
        idx = torch.randint(len(records), (min(batch_size, len(records)),), generator=gen)
        x = normalize_uint8(images[idx], SYNTH_MEAN, SYNTH_STD)
        flip = torch.rand(len(idx), generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)
        img_f, txt_f, scale = model(x.to(dev), tokens[idx].to(dev))
        loss = loss_fn(img_f, txt_f, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    meta = {
        "kind": SYNTH_BACKBONE,
        "spec": asdict(spec),
        "vocab": tokenizer.words,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "losses": losses,
        "seconds": round(time.time() - t0, 1),
        "n_pairs": len(records),
        "mean": SYNTH_MEAN,
        "std": SYNTH_STD,
    }
    artifacts.save_tensors(out_path, model.to("cpu").state_dict(), meta)
    return Path(out_path)


def load_synth_clip(path: str | Path) -> Backbone:
    """Load the small CLIP; a checkpoint of another shape is refused with the mismatch named."""
    tensors, meta = artifacts.load_tensors(path, "backbone checkpoint", kind=SYNTH_BACKBONE)
    spec = SynthCLIPSpec(**meta["spec"])
    tokenizer = WordTokenizer(meta["vocab"], spec.context_length)
    model = build_synth_clip(spec, tokenizer.vocab_size)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise ArtifactError(
            f"{path}: weights do not fit the model its metadata describes: {e}"
        ) from e
    model.eval()
    return Backbone(
        model=model,
        tokenizer=tokenizer,
        image_size=spec.image_size,
        mean=tuple(meta["mean"]),
        std=tuple(meta["std"]),
        name=SYNTH_BACKBONE,
        fingerprint=artifacts.sha256_file(path)[:16],
        history={
            "losses": meta["losses"],
            "seconds": meta["seconds"],
            "steps": meta["steps"],
            "n_pairs": meta["n_pairs"],
        },
    )


def check_model_name(name: str) -> None:
    """An open_clip model name, or a one-line ConfigError naming the parameter (checked before a run too)."""
    if name not in open_clip.list_models():
        raise ConfigError(
            f"parameter 'backbone.name' = {name!r} is not an open_clip model name nor {SYNTH_BACKBONE!r}; "
            f"e.g. ViT-B-16, ViT-L-14 (see open_clip.list_models())"
        )


def load_open_clip(
    name: str, pretrained: str | None, device: str = "cpu", *, cache_dir: str | None = None
) -> Backbone:
    """Any open_clip model: ``pretrained`` is a tag (e.g. 'openai'), a local weights file, or None (random init)."""
    check_model_name(name)
    pre = pretrained or None
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=pre, device=device, cache_dir=cache_dir
    )
    model.eval()
    cfg = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
    size = cfg.get("size", model.visual.image_size)
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
    fp = artifacts.fingerprint(
        {
            "name": name,
            "pretrained": pre,
            "weights": artifacts.sha256_file(pre)[:16] if pre and Path(pre).is_file() else None,
            "init": None
            if pre
            else int(
                sum(float(p.detach().double().sum()) for p in list(model.parameters())[:3]) * 1e6
            ),
        }
    )
    return Backbone(
        model=model,
        tokenizer=open_clip.get_tokenizer(name),
        image_size=size,
        mean=mean,
        std=std,
        name=name,
        fingerprint=fp,
    )
