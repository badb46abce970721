"""Raw and adapted text spaces from an EZ-HOI checkpoint, with the fingerprint of their origin.

The *raw* space is frozen CLIP on the class prompts; the *adapted* space is what the
trained classifier compares against (prompts, text adapter, descriptor attention).
Beside one vector per class, each space holds a sentence corpus for a diffusion
model to learn the distribution from: prompt templates, descriptor sentences and,
where the world has them, the pretraining captions' phrasings of every class (many
captions per concept, as Diffusion Bridge and CapDec train on), pushed as class-sets
through the same modules, since the text adapter attends over all C classes. The fingerprint
hashes the checkpoint's weights and the extraction settings, so a diffusion model can
later refuse a space other than the one it learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hoilib import artifacts, cache
from hoilib.config import RunCfg, stage_root
from hoilib.data.world import World
from hoilib.models.ezhoi.model import EZHOI

PROMPT_PREFIX = "a photo of a person "
TEMPLATES = ("a person {p}", "a picture of a person {p}", "someone {p}")
EXTRACTION_VERSION = 2


def corpus_sets(world: World) -> list[list[str]]:
    """Sets of C sentences (sentence j of class j): the prompts, each template, each descriptor
    position, then each phrasing position (up to the fewest any class has; none without phrasings)."""
    phrases = [p[len(PROMPT_PREFIX) :] if p.startswith(PROMPT_PREFIX) else p for p in world.prompts]
    sets = [list(world.prompts)] + [[t.format(p=p) for p in phrases] for t in TEMPLATES]
    k = min(len(d) for d in world.descriptors)
    sets += [[d[i] for d in world.descriptors] for i in range(k)]
    if world.phrasings and len(world.phrasings) != len(world.prompts):
        raise ValueError(
            f"the world has phrasings for {len(world.phrasings)} classes, not {len(world.prompts)}"
        )
    k = min((len(p) for p in world.phrasings), default=0)
    sets += [[p[i] for p in world.phrasings] for i in range(k)]
    return sets


@dataclass(kw_only=True)
class TextSpace:
    raw: torch.Tensor  # (C, D)
    adapted: torch.Tensor  # (C, D)
    raw_corpus: torch.Tensor  # (S*C, D)
    adapted_corpus: torch.Tensor  # (S*C, D)
    corpus_class: torch.Tensor  # (S*C,)
    fingerprint: str
    meta: dict


@torch.no_grad()
def extract(model: EZHOI, world: World, tokenizer, *, checkpoint: str | Path) -> TextSpace:
    """Both spaces and their corpora; deterministic for a given checkpoint."""
    model.eval()
    raw, adapted = model.raw_text(), model.text_features()
    raw_c, ad_c, cls = [], [], []
    room = model.cfg.n_ctx if model.cfg.use_prompts else 0
    for sentences in corpus_sets(world):
        tok = _tokens(tokenizer, sentences, room)
        raw_c.append(model.text_encoder(use_prompts=False, tokens=tok))
        ad_c.append(
            model.adapt_text(model.text_encoder(use_prompts=model.cfg.use_prompts, tokens=tok))
        )
        cls.append(torch.arange(len(sentences)))
    weights, ck_meta = artifacts.load_tensors(checkpoint, "EZ-HOI checkpoint")
    # The training code's digest is hashed too: retrained EZ-HOI means a new space, even with equal weights.
    meta = {
        "checkpoint": str(checkpoint),
        "weights_sha256": artifacts.tensor_digest(weights),
        "ezhoi_code": (ck_meta.get("inputs") or {}).get("code"),
        "config": model.cfg.to_dict(),
        "version": EXTRACTION_VERSION,
        "n_sets": len(raw_c),
    }
    fp = artifacts.fingerprint(meta | {"checkpoint": Path(checkpoint).name})
    # The raw space depends only on the frozen backbone and the prompts, not on the checkpoint.
    meta["raw_fingerprint"] = artifacts.fingerprint(
        {"raw": _tensor_sha(raw), "corpus": _tensor_sha(torch.cat(raw_c))}
    )
    return TextSpace(
        raw=raw,
        adapted=adapted,
        raw_corpus=torch.cat(raw_c),
        adapted_corpus=torch.cat(ad_c),
        corpus_class=torch.cat(cls),
        fingerprint=fp,
        meta=meta,
    )


def folder(run: RunCfg) -> Path:
    """Where a run keeps its text caches (the text spaces, the descriptor features)."""
    return stage_root(run) / "textspace"


def extract_cached(model: EZHOI, world: World, tokenizer, *, checkpoint, folder) -> TextSpace:
    """``extract``, stored under ``folder`` and read back while nothing it reads has changed.

    The key holds the checkpoint file, every class text of the world, the tokenizer's
    vocabulary, this module's code and the model's class text in both spaces (which
    moves with the frozen text tower), so three chapters stop re-encoding 3,657 sentences
    per seed on a warm rebuild.
    """
    with torch.no_grad():
        probe = {"raw": model.raw_text(), "adapted": model.text_features()}
    texts = [world.prompts, world.descriptors, world.phrasings]
    inputs = {
        "checkpoint": artifacts.sha256_file(checkpoint),
        "texts": artifacts.fingerprint(texts),
        "vocab": artifacts.fingerprint(list(getattr(tokenizer, "words", []) or [])),
        "probe": artifacts.tensor_digest({k: v.float() for k, v in probe.items()}),
    }
    entry = cache.Entry(folder, Path(checkpoint).stem, inputs, code="textspace", keyed=True)
    return entry.fetch(
        lambda: extract(model, world, tokenizer, checkpoint=checkpoint),
        save,
        load,
        suffix=".safetensors",
    )


def _tokens(tokenizer, sentences: list[str], room: int) -> torch.Tensor:
    """Tokens that leave ``room`` positions free for the learnable context tokens.

    A sentence too long for that is cut (as the backbone's pretraining cut its captions at the
    context length), and the raw space reads the same cut tokens, so both hold one corpus.
    """
    full = tokenizer(sentences)
    if not room:
        return full
    cut = tokenizer(sentences, context_length=full.shape[1] - room)
    long = (cut != full[:, : cut.shape[1]]).any(dim=1)  # rows that fit keep their own tokens
    full[long] = torch.nn.functional.pad(cut[long], (0, room))
    return full


def _tensor_sha(t: torch.Tensor) -> str:
    return artifacts.tensor_digest({"": t.float()})[:16]


def save(space: TextSpace, path: str | Path) -> Path:
    t = {
        "raw": space.raw,
        "adapted": space.adapted,
        "raw_corpus": space.raw_corpus,
        "adapted_corpus": space.adapted_corpus,
        "corpus_class": space.corpus_class,
    }
    return artifacts.save_tensors(
        path, t, {**space.meta, "fingerprint": space.fingerprint, "kind": "text-spaces"}
    )


def load(path: str | Path) -> TextSpace:
    t, meta = artifacts.load_tensors(path, "text space file", kind="text-spaces")
    return TextSpace(
        raw=t["raw"],
        adapted=t["adapted"],
        raw_corpus=t["raw_corpus"],
        adapted_corpus=t["adapted_corpus"],
        corpus_class=t["corpus_class"],
        fingerprint=meta["fingerprint"],
        meta=meta,
    )


def movement(space: TextSpace) -> dict:
    """How far adaptation moved the class text: per-class cosine, centroid shift, distribution distance.

    The corpus MMD test compares a seeded subsample of each corpus (the test's
    ``max_per_set``, 1000 sentences; ``corpus_mmd_rows``): its kernel matrix is quadratic in
    the rows, and a corpus of thousands of sentences would make it slow to no purpose.
    """
    from hoilib.measure.gap import centroid_gap, mmd_permutation_test

    cos = (space.raw * space.adapted).sum(-1)
    shift = centroid_gap(space.adapted, space.raw)[1]
    mmd = mmd_permutation_test(space.adapted_corpus, space.raw_corpus, n_permutations=100, seed=0)
    return {
        "per_class_cosine": cos,
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "centroid_shift": float(shift),
        "corpus_mmd2": mmd["mmd2"],
        "corpus_mmd_p": mmd["p_value"],
        "corpus_mmd_rows": mmd["n_per_set"],
    }


def corpus_size(space: TextSpace) -> dict[str, int]:
    """What each space's corpus holds, for the chapters to state: class-sets, sentences per class, vectors."""
    per_class = torch.bincount(space.corpus_class, minlength=len(space.raw))
    return {
        "class-sets": int(space.meta["n_sets"]),
        "sentences per class": int(per_class.min()),
        "vectors per space": len(space.raw_corpus),
    }


def geometry(space: TextSpace, k: int = 10) -> dict[str, dict]:
    """Raw vs adapted geometry (``measure.geometry``) of the class text and of the sentence corpus.

    k is capped below the number of rows, for tiny worlds.
    """
    from hoilib.measure.geometry import geometry_summary

    pairs = {
        "class text": (space.raw, space.adapted),
        "sentence corpus": (space.raw_corpus, space.adapted_corpus),
    }
    return {name: geometry_summary(x, y, k=min(k, len(x) - 1)) for name, (x, y) in pairs.items()}
