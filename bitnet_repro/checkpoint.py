"""Checkpoint directories: the weights (safetensors), the resolved config.json and run metadata, plus the
optimizer and RNG state of a resumable checkpoint; written atomically, read back with a clear error for a
broken one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from bitnet_repro.config import ConfigError, RunConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.model import Transformer


class CheckpointError(ReproError, RuntimeError):
    """A checkpoint directory is missing, truncated or from another format version."""


def save_model_dir(path: Path, weights: dict[str, torch.Tensor], cfg: RunConfig, meta: dict[str, Any],
                   extra: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write a checkpoint directory atomically: build it beside `path`, then swap it in."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tied = cfg.model.tie_embeddings  # the head is the embedding: stored once (safetensors refuses shared tensors)
    tensors = {k: v.detach().contiguous().cpu() for k, v in weights.items() if not (tied and k == "lm_head.weight")}
    save_file(tensors, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    if extra:
        torch.save(extra, tmp / "train_state.pt")
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def load_model_dir(path: Path, device: str | torch.device = "cpu") -> tuple[Transformer, RunConfig]:
    """Load a checkpoint directory written by `save_model_dir`, with clear errors for broken ones."""
    path = Path(path)
    for name in ("config.json", "model.safetensors"):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not a checkpoint directory: {name} is missing")
    try:
        cfg = RunConfig.from_dict(json.loads((path / "config.json").read_text()))
    except (json.JSONDecodeError, KeyError) as e:
        raise CheckpointError(f"{path / 'config.json'} is unreadable ({e}); the checkpoint is damaged") from e
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from e
    try:
        state = load_file(str(path / "model.safetensors"), device=str(device))
    except Exception as e:  # safetensors raises its own error types for truncated headers and data
        raise CheckpointError(
            f"{path / 'model.safetensors'} is truncated or corrupt ({e}). Retrain, or delete the directory "
            "so that the run resumes from its last good checkpoint."
        ) from e
    model = Transformer(cfg.model).to(device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if cfg.model.tie_embeddings:  # stored once, as the embedding
        missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    return model, cfg


def find_resumable(run_dir: Path) -> Path | None:
    """The last complete checkpoint: checkpoint/, or checkpoint.old/ if a swap was interrupted."""
    for name in ("checkpoint", "checkpoint.old"):
        p = run_dir / name
        if (p / "train_state.pt").is_file() and (p / "model.safetensors").is_file():
            return p
    return None
