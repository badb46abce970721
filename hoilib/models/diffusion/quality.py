"""How well a text diffusion model learned its distribution: samples against data, and denoising back to a class.

* unconditional samples vs the training corpus: MMD^2 (with the MMD between two
  halves of the corpus as the floor a perfect model reaches) and each sample's
  cosine to its nearest training sentence (1.0 everywhere would mean memorised);
* nearest-class accuracy: a sample counts as class-coherent when the class of its
  nearest training sentence is also its nearest class text;
* denoising: sentences noised to step t and denoised (SDEdit) are assigned to their
  nearest class text; accuracy before and after denoising, per t.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hoilib.measure.gap import mmd_permutation_test
from hoilib.models.diffusion.bridge import add_noise, bridge, sample
from hoilib.models.diffusion.model import TextDiffusion, from_diffusion_space, to_diffusion_space


def sample_stats(
    diff: TextDiffusion,
    data: torch.Tensor,
    data_class: torch.Tensor,
    *,
    class_text: torch.Tensor,
    n: int,
    seed: int = 0,
    n_permutations: int = 100,
) -> dict:
    """Compare n unconditional samples with the corpus the model learned (data: (N, D), data_class: (N,))."""
    s = sample(diff, n, seed=seed)
    data = F.normalize(data.float(), dim=-1)
    mmd = mmd_permutation_test(s, data, n_permutations=n_permutations, seed=seed)
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    half = len(data) // 2
    floor = mmd_permutation_test(
        data[perm[:half]], data[perm[half:]], n_permutations=n_permutations, seed=seed
    )
    nn_cos, nn_idx = (s @ data.T).max(dim=1)
    nearest_class = (s @ F.normalize(class_text.float(), dim=-1).T).argmax(dim=1)
    return {
        "samples": s,
        "nn_cos": nn_cos,
        "mmd2": mmd["mmd2"],
        "mmd_p": mmd["p_value"],
        "mmd2_halves": floor["mmd2"],
        "mean_nn_cos": float(nn_cos.mean()),
        "class_coherent": float((nearest_class == data_class[nn_idx]).float().mean()),
    }


def denoising_accuracy(
    diff: TextDiffusion,
    data: torch.Tensor,
    data_class: torch.Tensor,
    *,
    class_text: torch.Tensor,
    fingerprint: str,
    t_values,
    steps: int = 5,
    seed: int = 0,
) -> list[dict]:
    """Per t: nearest-class accuracy of the noised sentences and of their denoised versions."""
    text = F.normalize(class_text.float(), dim=-1)
    rows = []
    for t in t_values:
        z = to_diffusion_space(data, diff.text_mean)
        noisy = add_noise(z, int(t), torch.Generator().manual_seed(seed)) if t > 0 else z
        noisy_text = from_diffusion_space(noisy, diff.text_mean, diff.radius)
        den = bridge(
            diff,
            data,
            diff.text_mean,
            space_fingerprint=fingerprint,
            t_start=int(t),
            steps=steps,
            recipe="sdedit",
            generator=torch.Generator().manual_seed(seed),
        )
        acc = lambda x: float(((x @ text.T).argmax(dim=1) == data_class).float().mean())  # noqa: E731
        rows.append({"t": int(t), "noised": acc(noisy_text), "denoised": acc(den)})
    return rows
