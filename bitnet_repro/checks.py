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
from bitnet_repro.train import TRACE_ENV, read_metrics
from bitnet_repro.utils import atomic_write_text, run_meta

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], env: dict[str, str]) -> None:
    """Run a training command; on failure, raise with the end of its output (the reason is in there)."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {done.returncode}:\n{tail}")


def _train_cmd(config: Path, data: Path, out: Path, procs: int = 1) -> list[str]:
    launch = [sys.executable, "-m", "bitnet_repro"]
    if procs > 1:  # DDP with gloo on CPU: torchrun starts `procs` ranks on this machine
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs),
                  "-m", "bitnet_repro"]  # fmt: skip
    return [*launch, "train", "--config", str(config), "--data", str(data), "--out", str(out), "--no-progress",
            "--threads", "1"]  # fmt: skip


def read_trace(directory: Path) -> dict[tuple[int, int], list[int]]:
    """{(step, rank): windows} from the traces of train.TRACE_ENV; a step read again after a resume must have
    read the same windows (else ValueError), and a line cut by a kill is ignored."""
    seen: dict[tuple[int, int], list[int]] = {}
    for path in sorted(directory.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = (row["step"], row["rank"])
            if key in seen and seen[key] != row["ids"]:
                raise ValueError(f"step {key[0]} of rank {key[1]} read other windows after the resume")
            seen[key] = row["ids"]
    return seen


def trace_report(trace: dict[tuple[int, int], list[int]], world: int, global_batch: int) -> dict[str, Any]:
    """What the ranks read: per step, disjoint windows that make up the global batch; over the run, how often
    a window came back (0 within one epoch of sharded data)."""
    steps = sorted({s for s, _ in trace})
    disjoint = all(len({i for r in range(world) for i in trace.get((s, r), [])})
                   == sum(len(trace.get((s, r), [])) for r in range(world)) == global_batch for s in steps)  # fmt: skip
    every = [i for ids in trace.values() for i in ids]
    return {"steps_traced": len(steps), "ranks": world, "windows_per_rank_per_step": global_batch // world,
            "ranks_disjoint_every_step": disjoint, "windows_read": len(every),
            "windows_read_more_than_once": len(every) - len(set(every))}  # fmt: skip


def _shards_summary(data: Path) -> dict[str, Any] | None:
    """The shard manifest's totals (data.format=shards), re-hashed against it; None for a train.bin."""
    from bitnet_repro.data import train_format
    from bitnet_repro.shards import verify

    if train_format(data) != "shards":
        return None
    m = verify(data / "train")
    return {"shards": len(m["shards"]), "parts": m["parts"], "tokens": m["tokens"], "documents": m["documents"],
            "shard_tokens": m["shard_tokens"], "dtype": m["dtype"], "tokenizer_sha256": m["tokenizer_sha256"],
            "verified": True}  # fmt: skip


def kill_and_resume(cfg: RunConfig, data: Path, work: Path, out: Path, timeout: float = 1800,
                    procs: int = 1) -> dict[str, Any]:  # fmt: skip
    """SIGKILL a training process (all `procs` ranks of it) once it has written a checkpoint, rerun it, and compare
    the final weights with an uninterrupted run of the same config (bitwise, on CPU). Both runs trace the windows
    each rank reads: the resumed run must read what the uninterrupted one read, and the ranks disjoint windows."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = work / "config.json"
    config.write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    killed_dir = work / "killed"
    killed_env = {**env, TRACE_ENV: str(work / "trace-killed")}
    # its own process group, so that the kill reaches every rank under torchrun, as a node failure would
    proc = subprocess.Popen(_train_cmd(config, data, killed_dir, procs), env=killed_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    ckpt = killed_dir / "checkpoint" / "train_state.pt"
    deadline = time.time() + timeout
    while not ckpt.exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("the training process ended before writing a checkpoint; lower train.ckpt_every")
        time.sleep(0.05)
    time.sleep(0.5)  # let it get some way past the checkpoint
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    metrics = read_metrics(killed_dir / "metrics.jsonl")  # its last line may have been cut by the kill
    killed_after = metrics[-1][1]["step"] + 1 if metrics else 0
    resumed_from = load_train_state(ckpt)["step"]
    t0 = time.perf_counter()
    _run(_train_cmd(config, data, killed_dir, procs), killed_env)
    resume_s = time.perf_counter() - t0
    _run(_train_cmd(config, data, work / "clean", procs), {**env, TRACE_ENV: str(work / "trace-clean")})
    a = load_file(str(killed_dir / "model" / "model.safetensors"))
    b = load_file(str(work / "clean" / "model" / "model.safetensors"))
    equal = sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    max_diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    summary = json.loads((work / "clean" / "summary.json").read_text())
    global_batch = cfg.train.grad_accum * cfg.train.micro_batch
    clean = read_trace(work / "trace-clean")
    try:
        resumed, stream_error = read_trace(work / "trace-killed"), None
    except ValueError as e:
        resumed, stream_error = {}, str(e)
    result = {
        "what": "SIGKILL a training run after its first checkpoint, rerun it; compare with an uninterrupted run",
        "run": cfg.name, "run_id": cfg.run_id, "profile": cfg.profile, "steps": cfg.train.steps,
        "precision": cfg.train.precision, "compile": cfg.train.compile,  # a compiled run is compiled again on resume
        "killed_after_step": killed_after, "resumed_from_step": resumed_from, "resume_wall_s": round(resume_s, 1),
        "final_weights_bitwise_equal": equal, "max_abs_weight_difference": max_diff,
        "world_size": procs, "data_format": summary["data_format"], "data_tokens": summary["data_tokens"],
        "epochs": summary["epochs"], "data_repeats": summary.get("data_repeats", False),
        "resumed_run_read_the_same_windows": stream_error is None and resumed == clean, "stream_error": stream_error,
        "data": trace_report(clean, procs, global_batch), "shards": _shards_summary(data),
        "meta": run_meta(device="cpu"),
    }  # fmt: skip
    atomic_write_text(out, json.dumps(result, indent=2))
    return result
