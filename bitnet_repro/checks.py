"""Self-checks that write their measurements to results/: kill a training run and resume it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from bitnet_repro.checkpoint import load_train_state
from bitnet_repro.config import RunConfig
from bitnet_repro.train import read_metrics
from bitnet_repro.utils import atomic_write_text, run_meta

ROOT = Path(__file__).resolve().parent.parent


def _train_cmd(config: Path, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "bitnet_repro", "train", "--config", str(config), "--data", str(data),
            "--out", str(out), "--no-progress", "--threads", "1"]  # fmt: skip


def kill_and_resume(cfg: RunConfig, data: Path, work: Path, out: Path, timeout: float = 1800) -> dict[str, Any]:
    """SIGKILL a training process once it has written a checkpoint, rerun it, and compare the final weights
    with an uninterrupted run of the same config (bitwise, on CPU)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = work / "config.json"
    config.write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    killed_dir = work / "killed"
    proc = subprocess.Popen(_train_cmd(config, data, killed_dir), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt = killed_dir / "checkpoint" / "train_state.pt"
    deadline = time.time() + timeout
    while not ckpt.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("the training process ended before writing a checkpoint; lower train.ckpt_every")
        time.sleep(0.05)
    time.sleep(0.5)  # let it get some way past the checkpoint
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    metrics = read_metrics(killed_dir / "metrics.jsonl")  # its last line may have been cut by the kill
    killed_after = metrics[-1][1]["step"] + 1 if metrics else 0
    resumed_from = load_train_state(ckpt)["step"]
    t0 = time.perf_counter()
    subprocess.run(_train_cmd(config, data, killed_dir), env=env, check=True, capture_output=True)
    resume_s = time.perf_counter() - t0
    subprocess.run(_train_cmd(config, data, work / "clean"), env=env, check=True, capture_output=True)
    a = load_file(str(killed_dir / "model" / "model.safetensors"))
    b = load_file(str(work / "clean" / "model" / "model.safetensors"))
    equal = sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    max_diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    result = {
        "what": "SIGKILL a training run after its first checkpoint, rerun it; compare with an uninterrupted run",
        "run": cfg.name, "run_id": cfg.run_id, "profile": cfg.profile, "steps": cfg.train.steps,
        "precision": cfg.train.precision, "compile": cfg.train.compile,  # a compiled run is compiled again on resume
        "killed_after_step": killed_after, "resumed_from_step": resumed_from, "resume_wall_s": round(resume_s, 1),
        "final_weights_bitwise_equal": equal, "max_abs_weight_difference": max_diff,
        "meta": run_meta(device="cpu"),
    }  # fmt: skip
    atomic_write_text(out, json.dumps(result, indent=2))
    return result
