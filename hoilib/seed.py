"""One seeding call for every stage and chapter.

It lives on its own so that models (backbone, EZ-HOI, diffusion) can seed without
importing the stages that use them.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Index backward passes (prompt tokens, embeddings) otherwise differ in the last bits run to run.
    torch.use_deterministic_algorithms(True, warn_only=True)
