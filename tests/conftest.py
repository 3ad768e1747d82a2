import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


@pytest.fixture
def token_dir(tmp_path: Path) -> Path:
    """Synthetic token arrays in the layout `data.prepare` writes (training tests need no real data)."""
    rng = np.random.default_rng(0)
    # A learnable stream: a repeating pattern with noise, so that the loss actually falls.
    base = np.tile(np.arange(64, dtype=np.uint16), 2000)
    noise = rng.integers(0, 512, base.size).astype(np.uint16)
    tokens = np.where(rng.random(base.size) < 0.1, noise, base).astype(np.uint16)
    for name in ("train", "val_wikitext2", "val_c4"):
        tokens.tofile(tmp_path / f"{name}.bin")
    return tmp_path
