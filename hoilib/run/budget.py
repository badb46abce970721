"""What a run will need (disk, memory, time), estimated from its profile before it starts.

A run the machine cannot hold (more disk than is free where it writes, more memory than
is available) is refused with one line naming the parameter that drives the estimate and
the estimate itself; ``--force`` starts it anyway. A full disk met during the run anyway
(another process filled it, or ``--force``) ends in one line too (``disk_full``): every
file is written under a temporary name and renamed, so nothing half-written is taken as
done, and the same command resumes once space is freed.

The sizes and rates per unit (``PER``) were measured on the synth profile: the sizes with ``du``
on a fresh ``hoilib run --profile synth`` at 47d408a (2-core AMD EPYC); the times and the memory
from the stage lines of ``hoilib run --profile synth`` and ``--profile smoke`` at 419f731 on a
2-core AMD EPYC (synth: 427 s of chapters, of which 396 s in stages; smoke: 54 s, 28 s in
stages) and the largest process's peak resident memory under ``/usr/bin/time`` (synth 1.81 GiB,
chapter 5's kernel; smoke 1.33 GiB). They scale with the profile's sizes (images, pairs, seeds,
epochs, steps, widths), not with the class count, and a test checks the disk estimate against
what the smoke book writes and the time and memory estimates against the smoke book's. The
estimates are meant to catch a run that is too big by a wide margin (a parameter off by orders
of magnitude), not to predict a run to the megabyte; times are for a 2-core CPU.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hoilib.config import Params, stage_root
from hoilib.errors import DiskFull, TooBig

MB, GB = 2**20, 2**30
# hoi-synth pairs per image (the synth world at seed 0: 2,778 train pairs / 1,200 images, 1,362 / 600)
SYNTH_PAIRS_PER_IMAGE = 2.4
# embedding widths: the small CLIP's; ViT-L/14's, the widest in use
SYNTH_DIM, OPEN_CLIP_DIM = 128, 768
# measured per unit on the synth profile (module docstring)
PER = {
    # disk, bytes
    "image_px": 17_764_352 / (1800 * 160**2),  # rendered train/test images (JPEG), per pixel
    "pretrain_scene": 31_440_896 / 2500,  # a pretraining scene's crops (PNG)
    "annotation": 2_666_496 / 1800,  # an image's annotation, boxes, caption records
    "pair_dim": 15_697_104 / (4140 * 128),  # a pair's cached features, per embedding dimension
    "backbone": 5_406_720,  # the small CLIP's weights
    "ezhoi_run": 20_340_736 / 15,  # an EZ-HOI checkpoint
    "text_space_seed": 23_105_536 / 3,  # the text spaces of one seed's model
    "diffusion_width2": 6_516_736 / (6 * 2 * 128**2),  # a diffusion model, per block x width^2
    "chapter": (2_686_976 + 659_456 + 1_396_736) / 6,  # an executed chapter, its metrics and memo
    # memory, bytes
    "base": 1.5 * GB,  # the largest chapter kernel (chapter 5's) of a small run
    "pretrain_scene_memory": 6251 / 2500 * 3 * 64 * 64,  # the pretraining crops, uint8
    "pair_memory_dim": 2 * 15_697_104 / (4140 * 128),  # a pair's features in memory, twice
    # beside the largest kernel: the runner (774 MB resident) and the next chapter's kernel, started
    # while one runs (run/kernels.ChapterKernel; 820 MB after its imports)
    "runner": 774 * MB,
    "waiting_kernel": 820 * MB,
    # time on a 2-core CPU, seconds
    "world_item": 14.0 / (1800 + 2500),  # rendering an image or a pretraining scene
    "pretrain_sample": 77.0 / (200 * 256),  # pretraining, per (step x batch)
    "crop": 12.0 / (4140 * 3),  # feature extraction, per crop (synth-vit-tiny)
    "ezhoi_image_epoch": 115.0 / (18 * 8 * 1200),  # EZ-HOI, per (training image x epoch x run)
    "diffusion_sample": 26.0 / (6 * 800 * 64),  # text diffusion, per (step x batch x model)
    "chapter_start": 26.0
    / 6,  # a chapter's kernel start, imports, figures (smoke: 54 s less stages)
    # the measures, UMAPs and chapter 5's tables: a fixed part and a part per (test pair x seed)
    # (synth 142 s at 1,440 x 3, smoke 18 s at 72 x 2)
    "evaluation": 13.7,
    "evaluation_pair_seed": (142.0 - 18.0) / (1440 * 3 - 72 * 2),
}


@dataclass(kw_only=True)
class Estimate:
    """A run's needs: bytes per folder and part, peak memory, seconds on a 2-core CPU, and
    for each of the three the parameter whose growth drives it."""

    disk: dict[Path, dict[str, float]] = field(default_factory=dict)  # folder -> part -> bytes
    memory: float = 0.0  # every process of the run at once: what the machine must hold
    largest: float = 0.0  # the largest single process (a chapter's kernel)
    seconds: float = 0.0
    drivers: dict[str, str] = field(default_factory=dict)  # disk / memory / time -> its parameter

    def line(self) -> str:
        total = sum(sum(parts.values()) for parts in self.disk.values())
        return (
            f"estimate: writes about {_size(total)}, peaks near {_size(self.largest)} of memory in "
            f"its largest process ({_size(self.memory)} with the runner and the next chapter's "
            f"kernel), about {_duration(self.seconds)} on a 2-core CPU"
        )


def _size(b: float) -> str:
    if b >= GB:
        return f"{b / GB:.1f} GB"
    return f"{b / MB:.0f} MB" if b >= 10 * MB else f"{b / MB:.1f} MB"


def _duration(s: float) -> str:
    if s >= 2 * 86400:
        return f"{s / 86400:.0f} days"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{max(1, round(s / 60))} min"


def _counts(cfg: Params, pairs: tuple[int, int] | None) -> dict[str, float]:
    """The sizes the estimate scales with: images, pairs, pretraining scenes, training runs."""
    w = cfg.world
    synth = w.dataset == "hoi-synth"
    if pairs is None:  # hoi-synth before it is generated
        pairs = (
            round(w.n_train_images * SYNTH_PAIRS_PER_IMAGE),
            round(w.n_test_images * SYNTH_PAIRS_PER_IMAGE),
        )
    seeds = len(cfg.ezhoi.seeds)
    small_clip = cfg.backbone.name == "synth-vit-tiny"
    return {
        "images": (w.n_train_images + w.n_test_images) if synth else 0,
        "train_images": w.n_train_images if synth else pairs[0] / SYNTH_PAIRS_PER_IMAGE,
        "pretrain": w.n_pretrain_images if synth and small_clip else 0,
        "pairs": sum(pairs),
        "test_pairs": pairs[1],
        "dim": SYNTH_DIM if small_clip else OPEN_CLIP_DIM,
        "seeds": seeds,
        # chapter 2's runs (the full model, and its four ablations) and chapter 5's pseudo-unseen ones
        "ezhoi_runs": seeds * (5 if cfg.ezhoi.ablation else 1) + seeds,
        "diffusion_runs": 2 * seeds,  # raw and adapted text, per seed
    }


def estimate(cfg: Params, pairs: tuple[int, int] | None = None, chapters: int = 6) -> Estimate:
    """What ``cfg`` needs; ``pairs``: (train, test) pair counts where known (HICO-DET's annotations)."""
    n, w, d = _counts(cfg, pairs), cfg.world, cfg.diffusion
    part = chapters / 6
    stages = {
        "world images": n["images"] * w.image_size**2 * PER["image_px"],
        "pretraining scenes": n["pretrain"] * PER["pretrain_scene"],
        "annotations": n["images"] * PER["annotation"],
        "backbone": PER["backbone"] if n["pretrain"] else 0.0,
        "features": n["pairs"] * n["dim"] * PER["pair_dim"],
        "EZ-HOI runs": n["ezhoi_runs"] * PER["ezhoi_run"] * part,
        "text spaces": n["seeds"] * PER["text_space_seed"] * n["dim"] / SYNTH_DIM * part,
        "diffusion models": n["diffusion_runs"]
        * d.blocks
        * d.hidden**2
        * PER["diffusion_width2"]
        * part,
    }
    folders = {Path(cfg.run.run_dir): {"executed chapters": chapters * PER["chapter"]}}
    folders.setdefault(stage_root(cfg.run), {}).update(stages)
    memory_parts = {
        "world.n_pretrain_images": n["pretrain"] * PER["pretrain_scene_memory"],
        "world.n_train_images": n["pairs"] * n["dim"] * PER["pair_memory_dim"],
    }
    time_parts = {
        "world.n_train_images": n["images"] * PER["world_item"] + n["pairs"] * 3 * PER["crop"],
        "world.n_test_images": n["test_pairs"] * n["seeds"] * PER["evaluation_pair_seed"] * part,
        "world.n_pretrain_images": n["pretrain"] * PER["world_item"],
        "backbone.steps": cfg.backbone.steps * cfg.backbone.batch * PER["pretrain_sample"]
        if n["pretrain"]
        else 0.0,
        "ezhoi.epochs": cfg.ezhoi.epochs
        * n["ezhoi_runs"]
        * n["train_images"]
        * PER["ezhoi_image_epoch"]
        * part,
        "diffusion.steps": d.steps * d.batch * n["diffusion_runs"] * PER["diffusion_sample"] * part,
    }
    disk_parts = {
        "world.n_train_images": stages["world images"] + stages["features"],
        "world.n_pretrain_images": stages["pretraining scenes"],
    }
    largest = PER["base"] + sum(memory_parts.values())
    return Estimate(
        disk=folders,
        memory=largest + PER["runner"] + PER["waiting_kernel"] * (chapters > 1),
        largest=largest,
        seconds=(PER["chapter_start"] + PER["evaluation"] / 6) * chapters
        + sum(time_parts.values()),
        drivers={
            kind: _named(cfg, max(parts, key=parts.get), n["pairs"])
            for kind, parts in (
                ("disk", disk_parts),
                ("memory", memory_parts),
                ("time", time_parts),
            )
        },
    )


def _named(cfg: Params, name: str, pairs: float) -> str:
    """The parameter as the user sets it; for HICO-DET the copy itself sets the image counts."""
    if cfg.world.dataset == "hico-det" and name.startswith("world.n_"):
        return f"the HICO-DET copy in {cfg.world.data_root} ({pairs:,.0f} pairs)"
    section, field_name = name.split(".")
    return f"parameter '{name}' = {getattr(getattr(cfg, section), field_name)}"


def _free(folder: Path) -> tuple[Path, float, int]:
    """The nearest existing folder at or above ``folder``, its free bytes and its device."""
    p = Path(folder).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p, shutil.disk_usage(p).free, os.stat(p).st_dev


def _written(folder: Path) -> float:
    """Bytes already in ``folder`` (0 when it does not exist yet): a resumed run writes only what
    is missing."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def _mem_available() -> float | None:
    """MemAvailable plus free swap (Linux), else None (no memory check)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            info = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f if ":" in ln}
    except (OSError, ValueError, IndexError):
        return None
    if "MemAvailable" not in info:
        return None
    return info["MemAvailable"] + info.get("SwapFree", 0)


def check(est: Estimate, force: bool = False) -> None:
    """Refuse (TooBig, one line) a run whose disk or memory estimate exceeds what the machine
    has, unless ``force``. Folders on one file system share its free space."""
    if force:
        return
    by_device: dict[int, list] = {}
    for folder, parts in est.disk.items():
        shown, free, dev = _free(folder)
        need = max(0.0, sum(parts.values()) - _written(folder))
        entry = by_device.setdefault(dev, [shown, free, 0.0])
        entry[2] += need
    for shown, free, need in by_device.values():
        if need > free:
            raise TooBig(
                f"{est.drivers['disk']}: this run would write about {_size(need)} in {shown}, "
                f"which has {_size(free)} free; lower it, free space, move run.run_dir / "
                "run.stage_dir, or pass --force to start anyway"
            )
    avail = _mem_available()
    if avail is not None and est.memory > avail:
        raise TooBig(
            f"{est.drivers['memory']}: this run would need about {_size(est.memory)} of memory, "
            f"{_size(avail)} is available; lower it, or pass --force to start anyway"
        )


def no_space(e: BaseException | str) -> bool:
    """Whether an error (or a notebook's error text) is a full disk (ENOSPC, or EDQUOT: a quota)."""
    if isinstance(e, str):
        return "[Errno 28]" in e or "No space left on device" in e or "Disk quota exceeded" in e
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return no_space(str(e)) if isinstance(e, Exception) else False


def disk_full(doing: str, folders: list[Path]) -> DiskFull:
    """The one line for a full disk met while ``doing``: each folder's free space, and that the
    same command resumes (every file is renamed into place only once complete)."""
    seen, where = set(), []
    for folder in folders:
        shown, free, dev = _free(folder)
        if dev not in seen:
            seen.add(dev)
            where.append(f"{shown} has {_size(free)} free")
    return DiskFull(
        f"no space left on device while {doing} ({'; '.join(where)}); free space and run the "
        "same command again: finished stages and chapters are reused, nothing half-written is kept"
    )
