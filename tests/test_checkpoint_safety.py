"""Loading a checkpoint runs no code from it: the training state is read weights-only, and a file that only loads
by unpickling arbitrary objects (a crafted one, or one of the earlier format) is refused with a message that says
what to do."""

import ast
import json
import math
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bitnet_repro.__main__ import main
from bitnet_repro.checkpoint import (
    TRAIN_STATE_FORMAT,
    TRUST_ENV,
    CheckpointError,
    capture_rng,
    load_train_state,
    restore_rng,
    save_model_dir,
)
from bitnet_repro.config import DataConfig
from bitnet_repro.model import Transformer
from bitnet_repro.profile import load_profile, make_run
from bitnet_repro.train import train

PACKAGE = Path(__file__).resolve().parent.parent / "bitnet_repro"


class _Payload:
    """Unpickling this creates the file `marker`: what a crafted train_state.pt could do instead."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _run():
    t = dict(steps=6, warmup_steps=2, eval_every=6, ckpt_every=2, eval_tokens=256)
    return make_run(load_profile("smoke"), DataConfig(vocab_size=512), "tiny-1", "bitnet_b158", train_overrides=t)


def _draws() -> tuple:
    return torch.rand(4), np.random.standard_normal(3), random.random()


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def test_training_state_round_trips_weights_only(tmp_path):
    run = _run()
    model = Transformer(run.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randint(0, 512, (1, 8)), torch.randint(0, 512, (1, 8)))[1].backward()
    optimizer.step()
    _seed(1)
    np.random.standard_normal()  # numpy now holds a cached Gaussian, part of its state
    state = {"optimizer": optimizer.state_dict(), "step": 7, "min_loss": math.inf, "wall_time": 1.5,
             "rng": capture_rng()}  # fmt: skip
    expected = _draws()
    save_model_dir(tmp_path / "ckpt", model.state_dict(), run, {}, extra=state)

    path = tmp_path / "ckpt/train_state.pt"
    assert torch.load(path, weights_only=True)["format"] == TRAIN_STATE_FORMAT
    loaded = load_train_state(path)
    assert (loaded["step"], loaded["min_loss"], loaded["wall_time"]) == (7, math.inf, 1.5)
    assert loaded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    for k, v in state["optimizer"]["state"].items():
        assert all(torch.equal(v[name], loaded["optimizer"]["state"][k][name]) for name in v)
    _seed(9)  # other states, which restoring replaces
    restore_rng(loaded["rng"])
    torch_draw, numpy_draw, python_draw = _draws()
    assert torch.equal(torch_draw, expected[0]) and np.array_equal(numpy_draw, expected[1])
    assert python_draw == expected[2]


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_crafted_training_state_is_refused_and_never_runs(token_dir, tmp_path, writer, capsys, monkeypatch):
    run, out, marker = _run(), tmp_path / "run", tmp_path / "payload-ran"
    train(run, token_dir, out, progress=False, stop_after=3)  # leaves a checkpoint at step 2
    path = out / "checkpoint/train_state.pt"
    crafted = {"step": 2, "payload": _Payload(marker)}
    if writer == "torch.save":
        torch.save(crafted, path)
    else:
        path.write_bytes(pickle.dumps(crafted, protocol=2))

    refused = f"only load by running code from the file.*retrain.*{TRUST_ENV}=1"
    with pytest.raises(CheckpointError, match=refused):
        train(run, token_dir, out, progress=False)  # resume
    with pytest.raises(CheckpointError, match=refused):
        load_train_state(path)  # what the kill-and-resume check reads
    config = tmp_path / "config.json"
    config.write_text(json.dumps(run.to_dict()))
    args = ["train", "--config", str(config), "--data", str(token_dir), "--out", str(out), "--no-progress"]
    assert main(args) == 2 and "only load by running code" in capsys.readouterr().err
    monkeypatch.setenv(TRUST_ENV, "1")  # accepting the earlier format does not let code run either
    with pytest.raises(CheckpointError, match="only load by running code"):
        train(run, token_dir, out, progress=False)
    assert not marker.exists()
    unrestricted = torch.load if writer == "torch.save" else lambda p, **_: pickle.loads(p.read_bytes())
    unrestricted(path, weights_only=False)  # the file is a working payload: an unrestricted load runs it
    assert marker.exists()


def _as_earlier_format(path: Path) -> None:
    """Rewrite a training state as the earlier version wrote it: no "format", numpy's RNG state as its tuple."""
    state = load_train_state(path)
    del state["format"]
    n = state["rng"]["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    state["rng"]["numpy"] = (n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"])
    torch.save(state, path)


def test_an_earlier_format_state_is_refused_unless_trusted(token_dir, tmp_path, monkeypatch):
    run = _run()
    train(run, token_dir, tmp_path / "full", progress=False)
    train(run, token_dir, tmp_path / "run", progress=False, stop_after=3)
    _as_earlier_format(tmp_path / "run/checkpoint/train_state.pt")
    with pytest.raises(CheckpointError, match=f"older bitnet_repro.*{TRUST_ENV}=1"):
        train(run, token_dir, tmp_path / "run", progress=False)

    monkeypatch.setenv(TRUST_ENV, "1")  # the user's own file: resumes, bitwise where the uninterrupted run ends
    train(run, token_dir, tmp_path / "run", progress=False)
    a = load_file(str(tmp_path / "full/model/model.safetensors"))
    b = load_file(str(tmp_path / "run/model/model.safetensors"))
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_another_format_or_a_damaged_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "train_state.pt"
    torch.save({"format": TRAIN_STATE_FORMAT + 1, "step": 2}, path)
    with pytest.raises(CheckpointError, match=f"format {TRAIN_STATE_FORMAT + 1}; this version reads format"):
        load_train_state(path)
    torch.save({"format": TRAIN_STATE_FORMAT, "step": 2}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_train_state(path)


def test_every_torch_load_of_the_package_is_weights_only():
    unsafe = []
    for file in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
            if call and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                safe = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in node.keywords)
                if not safe:
                    unsafe.append(f"{file.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"
