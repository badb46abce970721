"""Chapter 4: one text diffusion model per space and seed; do its samples look like the data, does it denoise?"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hoilib import memo
from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.config import section_names
from hoilib.figures.figure_style import WIDTH, colour_of, legend_outside, series
from hoilib.models.diffusion.diffusion_stage import space_vectors
from hoilib.models.diffusion.quality import denoising_accuracy, sample_stats
from hoilib.models.seedrun import SeedRun, seed_runs

NAME = "04_diffusion_training"
NEEDS_SPLIT = True
PARAMS = ("ezhoi.seeds", *section_names("diffusion"), "run.seed", "world.split")
DENOISE_T = (0, 200, 400, 600, 800, 999)


@dataclass(kw_only=True)
class DiffusionChapter(ChapterResult):
    runs: list[SeedRun]
    # sample quality of each model of the first seed (rows: measure, columns: model)
    quality: pd.DataFrame
    nn_cos: dict[str, np.ndarray]  # space -> each sample's cosine to its nearest training sentence
    denoising: dict[str, list[dict]]  # space -> per t: nearest-class accuracy noised and denoised

    def checkpoints(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "space": d.space,
                    "seed": r.seed,
                    "fingerprint": d.fingerprint,
                    "training sentences": d.history["n_vectors"],
                    "steps": d.history["steps"],
                    "train s": d.history["seconds"],
                    "final loss (mean of last 100)": float(np.mean(d.history["losses"][-100:])),
                }
                for r in self.runs
                for d in (r.adapted, r.raw)
            ]
        )

    def histories(self) -> dict:
        return {(d.space, r.seed): d.history for r in self.runs for d in (r.adapted, r.raw)}

    def denoising_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                k: {r["t"]: f"{100 * r['noised']:.1f} -> {100 * r['denoised']:.1f}" for r in v}
                for k, v in self.denoising.items()
            }
        )

    def numbers(self) -> dict:
        q = self.quality["trained on adapted"]
        return {
            "coherent_adapted": 100 * q["class-coherent samples"],
            "mmd_adapted_own": q["MMD^2 samples vs own corpus"],
            "mmd_adapted_other": q["MMD^2 samples vs the other corpus"],
        }

    def metrics(self) -> dict:
        ck = self.checkpoints()
        return {
            "checkpoints": ck[
                ["space", "seed", "fingerprint", "final loss (mean of last 100)", "train s"]
            ]
            .rename(columns={"final loss (mean of last 100)": "final_loss", "train s": "seconds"})
            .to_dict(orient="records"),
            "sample_quality_seed0": self.quality.to_dict(),
            "denoising_seed0": self.denoising,
        }


def quality(cfg, run: SeedRun) -> tuple[pd.DataFrame, dict]:
    """Each model's samples against its own corpus and the other space's; cosines to the nearest sentence."""
    sp, stats, nn = run.space, {}, {}
    for d in (run.adapted, run.raw):
        other = "raw" if d.space == "adapted" else "adapted"
        text = sp.adapted if d.space == "adapted" else sp.raw
        own = sample_stats(
            d,
            space_vectors(sp, d.space)[0],
            sp.corpus_class,
            class_text=text,
            n=cfg.diffusion.samples,
            seed=cfg.run.seed,
        )
        cross = sample_stats(
            d,
            space_vectors(sp, other)[0],
            sp.corpus_class,
            class_text=text,
            n=cfg.diffusion.samples,
            seed=cfg.run.seed,
        )
        nn[d.space] = own["nn_cos"].numpy()
        stats[f"trained on {d.space}"] = {
            "MMD^2 samples vs own corpus": own["mmd2"],
            "MMD^2 two halves of own corpus": own["mmd2_halves"],
            "mean cosine to nearest sentence": own["mean_nn_cos"],
            "class-coherent samples": own["class_coherent"],
            "MMD^2 samples vs the other corpus": cross["mmd2"],
        }
    return pd.DataFrame(stats), nn


def denoising(cfg, run: SeedRun) -> dict:
    out = {}
    for d in (run.adapted, run.raw):
        vecs, fp = space_vectors(run.space, d.space)
        text = run.space.adapted if d.space == "adapted" else run.space.raw
        out[d.space] = denoising_accuracy(
            d,
            vecs,
            run.space.corpus_class,
            class_text=text,
            fingerprint=fp,
            t_values=DENOISE_T,
            seed=cfg.run.seed,
        )
    return out


def run(ch: Chapter) -> DiffusionChapter:
    runs = seed_runs(ch.cfg, ch.backbone, ch.world, data=ch.data)
    first = runs[0]

    def measures() -> dict:
        q, nn = quality(ch.cfg, first)
        return {"quality": q, "nn_cos": nn, "denoising": denoising(ch.cfg, first)}

    # Sampling both models of the first seed is what a warm rebuild would otherwise redo.
    m = memo.cached(ch, "ch4-measures", measures, code=__name__, space=first.space.fingerprint)
    return DiffusionChapter(
        runs=runs, quality=m["quality"], nn_cos=m["nn_cos"], denoising=m["denoising"]
    )


def smoothed(values, window: int = 50) -> np.ndarray:
    """Running mean (same length; the first points average what exists so far)."""
    v = np.asarray(values, dtype=float)
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def diffusion_losses(histories: dict, window: int = 50):
    """Training loss (x0 MSE, running mean) per (space, seed); one panel per space."""
    spaces = sorted({k[0] for k in histories})
    fig, axes = plt.subplots(1, len(spaces), figsize=(WIDTH, 3.2), sharey=True, squeeze=False)
    seeds = sorted({k[1] for k in histories})
    for ax, space in zip(axes[0], spaces, strict=False):
        for (sp, seed), h in histories.items():
            if sp == space:
                colour = series(seeds.index(seed))
                ax.plot(smoothed(h["losses"], window), lw=1, label=f"seed {seed}", color=colour)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(f"trained on the {space} space", fontsize=10)
    legend_outside(axes[0, -1])
    axes[0, 0].set_ylabel(f"x0 MSE (running mean of {window})")
    fig.tight_layout()
    return fig


def denoising_curve(rows_by_space: dict):
    """Nearest-class accuracy of corpus sentences noised to step t, before and after denoising."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    for k, (space, rows) in enumerate(rows_by_space.items()):
        df = pd.DataFrame(rows)
        colour = colour_of(f"{space} text", k)
        ax.plot(df["t"], 100 * df["denoised"], "-o", color=colour, label=f"{space}: denoised")
        ax.plot(df["t"], 100 * df["noised"], ":", color=colour, label=f"{space}: noised only")
    ax.set_xlabel("noise level t (of 1000)")
    ax.set_ylabel("nearest-class accuracy (%)")
    legend_outside(ax)
    fig.tight_layout()
    return fig
