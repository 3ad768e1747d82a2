"""Checkpoint directories: the weights (safetensors), the resolved config.json and run metadata, plus the
optimizer and RNG state of a resumable checkpoint; written atomically, read back with a clear error for a
broken one.

The training state (train_state.pt) holds only tensors, numbers, strings, lists, tuples and dicts, so that it is
read with `torch.load(weights_only=True)`: resuming or checking a run directory from elsewhere never runs code
from it. Its "format" key is TRAIN_STATE_FORMAT. A state of the earlier format (no "format"; numpy's RNG state
with a pickled ndarray) is refused, unless the user asks for it with BITNET_REPRO_TRUST_CHECKPOINTS=1: it is then
read weights-only as well, with numpy's array reconstruction allowed, so no code from the file runs either way.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bitnet_repro.config import ConfigError, RunConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.model import Transformer

TRAIN_STATE_FORMAT = 2  # 1: the unversioned pickle with numpy objects, which only loads by running its code
TRUST_ENV = "BITNET_REPRO_TRUST_CHECKPOINTS"


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
        torch.save({**extra, "format": TRAIN_STATE_FORMAT}, tmp / "train_state.pt")
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


def capture_rng() -> dict[str, Any]:
    """The torch, numpy and python RNG states as tensors and plain values: numpy's own state holds an ndarray,
    which a weights-only load refuses."""
    return {"torch": torch.get_rng_state(), "numpy": _numpy_rng(np.random.get_state()), "python": random.getstate()}


def restore_rng(rng: dict[str, Any]) -> None:
    """Set the RNG states that `capture_rng` recorded."""
    torch.set_rng_state(rng["torch"])
    n = rng["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate(rng["python"])


def _numpy_rng(state: tuple) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached_gaussian = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}  # fmt: skip


def _numpy_array_globals() -> list:
    """What unpickling the earlier format's numpy RNG keys needs: building a uint32 ndarray, nothing that calls
    code named by the file. numpy 1 pickled the builder under numpy.core, numpy 2 under numpy._core."""
    rebuild = (np._core if hasattr(np, "_core") else np.core).multiarray._reconstruct
    uint32 = type(np.dtype(np.uint32))  # the dtype's own class, which unpickling sets the state of
    return [np.ndarray, np.dtype, uint32, rebuild, (rebuild, "numpy.core.multiarray._reconstruct")]


def load_train_state(path: Path) -> dict[str, Any]:
    """The training state of a checkpoint (`save_model_dir`'s `extra`), read without running code from the file."""
    path = Path(path)
    earlier = os.environ.get(TRUST_ENV) == "1"  # the user accepts a state of the earlier format
    try:
        with torch.serialization.safe_globals(_numpy_array_globals() if earlier else []):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        hint = (
            f"; if it is your own run's state from an older bitnet_repro, {TRUST_ENV}=1 reads it "
            "(its numpy RNG state too, still without running code from the file)"
        )
        raise CheckpointError(
            f"{path} holds objects that only load by running code from the file (a training state written by an "
            f"older bitnet_repro, or a crafted file), so it was not loaded. Delete the checkpoint directory and "
            f"retrain{'' if earlier else hint}"
        ) from e
    except Exception as e:  # torch raises RuntimeError, KeyError, EOFError, ... for truncated or foreign files
        raise CheckpointError(
            f"{path} is truncated or corrupt ({e!r}). Delete the checkpoint directory and retrain"
        ) from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a training state. Delete the checkpoint directory and retrain")
    if earlier and "format" not in state:  # the earlier format: numpy's RNG state as its own tuple
        rng = {**state["rng"], "numpy": _numpy_rng(state["rng"]["numpy"])}
        state = {**state, "rng": rng, "format": TRAIN_STATE_FORMAT}
    if state.get("format") != TRAIN_STATE_FORMAT:
        raise CheckpointError(
            f"{path} is training-state format {state.get('format', 1)}; this version reads format "
            f"{TRAIN_STATE_FORMAT}. Delete the checkpoint directory and retrain"
        )
    return state
