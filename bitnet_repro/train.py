"""The training loop: AdamW with the paper's schedules, gradient accumulation, resumable checkpoints,
JSON-lines metrics, divergence as a recorded outcome, and torchrun DDP/FSDP.

Schedules (lr_at / wd_at):
    polynomial  Table 10 (b1): linear warmup, then polynomial (power 1) decay to 0 (fairseq's
                `polynomial_decay`, which the b1 recipe names)
    two_stage   Sec. 2.2.3, Table 13, Figure 10 (b1.58): warmup to the peak LR, held for the first half;
                at half the LR drops to `lr_stage2` and decays (cosine) to `min_lr_ratio * lr_stage2`,
                and weight decay switches from `weight_decay` to `wd_stage2` (0)
    cosine      the LLaMA baselines: warmup, cosine decay to `min_lr_ratio * lr`; constant weight decay
Run directory (`out`):
    config.json          the resolved RunConfig (written by `python -m bitnet_repro config`)
    checkpoint/          latest resumable state, replaced atomically every `ckpt_every` steps (checkpoint.py)
    metrics.jsonl        one JSON object per step; validation entries carry "split": "val"
    model/               the final checkpoint directory
    summary.json         status (completed | diverged), final validation PPL, wall time
A run with a `distill` section (BitDistill) starts its BitNet student from the teacher's weights, loads the teacher
once (frozen) and trains on cross-entropy plus the distillation terms of bitnet_repro/distill.py; metrics.jsonl
then also holds each term ("ce", "logits_kd", "relation_kd").
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_optimizer_state_dict
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from bitnet_repro.checkpoint import (
    capture_rng,
    find_resumable,
    load_model_dir,
    load_train_state,
    restore_rng,
    save_model_dir,
)
from bitnet_repro.config import ConfigError, RunConfig, TrainConfig
from bitnet_repro.data import VAL_SETS, bits_per_byte, load_token_bytes, load_tokens, train_format
from bitnet_repro.distill import Distiller, check_student, init_student, load_teacher
from bitnet_repro.model import Transformer
from bitnet_repro.precision import autocast as precision_autocast
from bitnet_repro.precision import precision_note
from bitnet_repro.utils import atomic_write_text, run_meta

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------------------


def lr_at(step: int, t: TrainConfig) -> float:
    if t.warmup_steps and step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    if t.schedule == "constant":
        return t.lr
    if t.schedule == "polynomial":
        return t.lr * (1 - (step - t.warmup_steps) / max(1, t.steps - t.warmup_steps))
    if t.schedule == "cosine":
        return _cosine(t.lr, t.min_lr_ratio, step - t.warmup_steps, t.steps - t.warmup_steps)
    half = t.steps // 2  # two_stage
    if step < half:
        return t.lr
    return _cosine(t.lr_stage2 if t.lr_stage2 is not None else t.lr, t.min_lr_ratio, step - half, t.steps - half)


def _cosine(peak: float, min_ratio: float, step: int, total: int) -> float:
    progress = min(1.0, step / max(1, total - 1))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def wd_at(step: int, t: TrainConfig) -> float:
    if t.schedule == "two_stage" and t.wd_stage2 is not None and step >= t.steps // 2:
        return t.wd_stage2
    return t.weight_decay


# ------------------------------------------------------------------------------------------------------
# Batches: a pure function of (seed, step), so a resumed run sees the same data without loader state
# ------------------------------------------------------------------------------------------------------


def batch_offsets(n_tokens: int, t: TrainConfig, step: int) -> torch.Tensor:
    """Start offsets of the step's `grad_accum * micro_batch` training windows (the global batch)."""
    g = torch.Generator().manual_seed(t.seed * 1_000_003 + step)
    return torch.randint(0, n_tokens - t.seq_len - 1, (t.grad_accum * t.micro_batch,), generator=g)


def windows(tokens: np.ndarray, offsets: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    buf = torch.from_numpy(np.stack([tokens[o : o + seq_len + 1] for o in offsets.tolist()]).astype(np.int64))
    return buf[:, :-1], buf[:, 1:]


class RandomWindows:
    """data.format=array: windows at random offsets of one token array (`batch_offsets`). `epochs` is the expected
    number of passes over the array, since windows are drawn with replacement."""

    format = "array"

    def __init__(self, tokens: np.ndarray, t: TrainConfig) -> None:
        self.tokens, self.t, self.n_tokens = tokens, t, len(tokens)

    def batch(self, step: int, global_batch: int, rank: int, world: int):
        """(x, y, ids) of rank's share of the step's global batch; ids: the windows' start offsets."""
        offsets = batch_offsets(self.n_tokens, self.t, step)[rank::world]
        return (*windows(self.tokens, offsets, self.t.seq_len), offsets.tolist())

    def epochs(self, steps: int, global_batch: int) -> float:
        return steps * global_batch * self.t.seq_len / self.n_tokens


class ShardWindows:
    """data.format=shards: every window of the shards once per epoch, in an order fixed by (seed, epoch)
    (shards.ShardedTokens); ranks take disjoint windows of each global batch."""

    format = "shards"

    def __init__(self, shard_dir: Path, t: TrainConfig) -> None:
        from bitnet_repro.shards import ShardedTokens

        self.loader = ShardedTokens(shard_dir, t.seq_len, t.seed)
        self.n_tokens, self.steps = sum(self.loader.shard_tokens), t.steps
        # the next step's windows are read in a thread while this step trains (numpy copies without the GIL): a
        # cold read (the page cache cannot hold 200 GB) then costs the GPU nothing. A batch is a pure function of
        # the step, so reading ahead changes nothing that is trained on.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="shards")
        self._ahead: tuple[int, Future] | None = None

    def _read(self, step: int, global_batch: int, rank: int, world: int):
        ids = self.loader.window_ids(step, global_batch)[rank::world]
        return (*self.loader.windows(ids), ids.tolist())

    def batch(self, step: int, global_batch: int, rank: int, world: int):
        """(x, y, ids) of rank's share of the step's global batch; ids: the windows' global indices."""
        ahead, self._ahead = self._ahead, None
        out = ahead[1].result() if ahead and ahead[0] == step else self._read(step, global_batch, rank, world)
        if step + 1 < self.steps:
            self._ahead = (step + 1, self._pool.submit(self._read, step + 1, global_batch, rank, world))
        return out

    def epochs(self, steps: int, global_batch: int) -> float:
        return self.loader.epoch_of(steps, global_batch)


def train_stream(data_dir: Path, t: TrainConfig) -> RandomWindows | ShardWindows:
    """The training windows of a data directory, for the way it stores its tokens (data.train_format)."""
    if train_format(data_dir) == "shards":
        return ShardWindows(data_dir / "train", t)
    return RandomWindows(load_tokens(data_dir, "train"), t)


def validation_windows(n_tokens: int, seq_len: int, max_tokens: int) -> int:
    """Number of non-overlapping validation windows of `seq_len` from the start of a text (the protocol of
    `evaluate`, shared by the count-model baselines of ngram.py)."""
    return max(1, min(max_tokens, n_tokens - 1) // seq_len)


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokens: np.ndarray, seq_len: int, max_tokens: int, batch: int,
             device: torch.device, autocast: Callable[[], Any], skip_blocks: bool = False) -> float:  # fmt: skip
    """Mean next-token loss over non-overlapping windows of `seq_len` from the start of `tokens`.

    skip_blocks: the diagnostic "embeddings -> final norm -> head" with every transformer block skipped, which
    shows how much of the loss the blocks remove (a model whose blocks do little is close to this loss)."""
    was_training = model.training
    model.eval()
    n_windows = validation_windows(len(tokens), seq_len, max_tokens)
    total, count = 0.0, 0
    for start in range(0, n_windows, batch):
        offsets = torch.arange(start, min(n_windows, start + batch)) * seq_len
        x, y = windows(tokens, offsets, seq_len)
        x, y = x.to(device), y.to(device)
        with autocast():
            _, loss = model(x, y, skip_blocks=skip_blocks)
        total += float(loss) * x.numel()
        count += x.numel()
    model.train(was_training)
    return total / count


def scored_bytes(tokens: np.ndarray, seq_len: int, max_tokens: int, token_bytes: np.ndarray) -> int:
    """UTF-8 bytes of the targets that `evaluate` scores (the denominator of bits per byte)."""
    n = validation_windows(len(tokens), seq_len, max_tokens) * seq_len
    return int(token_bytes[np.asarray(tokens[1 : n + 1], dtype=np.int64)].sum())


# ------------------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------------
# Distributed
# ------------------------------------------------------------------------------------------------------


def init_distributed(device_type: str) -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def wrap_model(model: torch.nn.Module, t: TrainConfig, world: int, device: torch.device) -> torch.nn.Module:
    if world == 1:
        return model
    if t.parallel == "fsdp":

        for block in model.layers:  # type: ignore[attr-defined]
            fully_shard(block)
        fully_shard(model)
        return model

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def full_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Unsharded model and optimizer state (a collective under FSDP: every rank calls it)."""

    return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


# ------------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------------


def make_optimizer(model: torch.nn.Module, t: TrainConfig) -> torch.optim.AdamW:
    """AdamW on the latent full-precision weights (Sec. 2.2.2). Weight decay applies to matrices only."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t.weight_decay, "decays": True},
              {"params": other, "weight_decay": 0.0, "decays": False}]  # fmt: skip
    return torch.optim.AdamW(groups, lr=t.lr, betas=t.betas, eps=1e-8, foreach=True)


def read_metrics(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(line, record) for each complete line of a metrics file; a line cut short by a kill is dropped."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append((line, json.loads(line)))
        except json.JSONDecodeError:
            continue
    return rows


def _metrics_before(path: Path, step: int) -> list[str]:
    """Lines of a metrics file for steps < `step`."""
    return [line for line, row in read_metrics(path) if row.get("step", step) < step]


TRACE_ENV = "BITNET_REPRO_TRACE_DATA"  # a directory: each rank appends the windows of every step it trains on


def _trace(directory: Path, rank: int, step: int, ids: list[int]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"rank{rank}.jsonl", "a") as f:
        f.write(json.dumps({"step": step, "rank": rank, "ids": ids}) + "\n")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: RunConfig, data_dir: Path, out: Path, progress: bool = True,
          stop_after: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Train (or resume) the run `cfg` into `out`; returns the summary. `stop_after` ends the process after
    that many steps without writing the final outputs (used by tests to simulate a killed run)."""
    t = cfg.train
    if (out / "summary.json").is_file() and (out / "model" / "model.safetensors").is_file():
        log.info("%s is already trained (%s); delete it to train again", cfg.run_id, out / "summary.json")
        return json.loads((out / "summary.json").read_text())
    device = torch.device(t.device if t.device != "cuda" or torch.cuda.is_available() else "cpu")
    if device.type != t.device:
        raise ConfigError(f"train.device={t.device!r} but no such device is available; use --device cpu")
    rank, world = init_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if t.threads and device.type == "cpu":
        torch.set_num_threads(t.threads)
    if t.grad_accum * t.micro_batch % world:
        raise ConfigError(f"the global batch ({t.grad_accum * t.micro_batch} sequences) must split over {world} ranks")
    precision = t.autocast_precision
    autocast = precision_autocast(precision, device)
    note = precision_note(precision, device)
    if rank == 0:
        log.info("%s: precision %s", cfg.name, note)

    stream = train_stream(data_dir, t)
    global_batch = t.grad_accum * t.micro_batch
    epochs = stream.epochs(t.steps, global_batch)
    if rank == 0:
        log.info("%s: %s tokens of %s data, %.3g epochs", cfg.name, f"{t.total_tokens:,}", stream.format, epochs)
        if epochs > 1:
            log.warning("%s repeats its data: %s training tokens over a corpus of %s tokens (%.2f epochs)", cfg.name,
                        f"{t.total_tokens:,}", f"{stream.n_tokens:,}", epochs)  # fmt: skip
    trace = Path(os.environ[TRACE_ENV]) if os.environ.get(TRACE_ENV) else None
    val_tokens = {name: load_tokens(data_dir, f"val_{name}") for name in VAL_SETS}
    piece_bytes = load_token_bytes(data_dir)
    val_bytes = {n: scored_bytes(v, t.seq_len, t.eval_tokens, piece_bytes) for n, v in val_tokens.items()}
    val_count = {n: validation_windows(len(v), t.seq_len, t.eval_tokens) * t.seq_len for n, v in val_tokens.items()}
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"

    seed_everything(t.seed)
    start_step, min_loss, wall_before = 0, math.inf, 0.0
    resume = find_resumable(out)
    teacher = load_teacher(cfg.distill.teacher, device) if cfg.distill else None  # BitDistill: once, frozen
    if resume:
        model = load_model_dir(resume, device)[0]
        if teacher is not None:
            check_student(model.cfg, teacher.cfg)  # a student checkpoint of another teacher stops here
    elif teacher is not None:
        model = init_student(cfg.model, teacher).to(device)  # the teacher's weights, SubLN at unit gain (checked)
    else:
        model = Transformer(cfg.model).to(device)
    distiller = Distiller(teacher, cfg.distill) if teacher is not None else None
    ddp_model = wrap_model(model, t, world, device)  # FSDP shards `model` in place
    # the training step's forward and backward through torch.compile; evaluation runs the eager module (its
    # batches have other shapes). The whole graph or an error: a graph break in the model fails here, not silently
    step_model = ddp_model
    if t.compile and distiller is None:
        step_model = torch.compile(ddp_model, fullgraph=world == 1)
    elif t.compile:
        log.warning("%s: train.compile is ignored for a distillation run (teacher hooks); training eagerly", cfg.name)
    optimizer = make_optimizer(model, t)
    if resume is not None:
        state = load_train_state(resume / "train_state.pt")  # weights only: no code from the file runs
        load_optimizer_state(model, optimizer, state["optimizer"])
        restore_rng(state["rng"])
        start_step, min_loss, wall_before = state["step"], state["min_loss"], state["wall_time"]
        log.info("resuming %s from step %d (%s)", cfg.run_id, start_step, resume)
        if rank == 0 and metrics_path.exists():  # drop metrics logged after the checkpoint
            atomic_write_text(metrics_path, "".join(ln + "\n" for ln in _metrics_before(metrics_path, start_step)))
    elif rank == 0:
        metrics_path.unlink(missing_ok=True)
    meta = run_meta(seed=t.seed, run_id=cfg.run_id, device=str(device), world_size=world, precision=precision,
                    compile=step_model is not ddp_model)

    def eval_all(skip_blocks: bool = False) -> dict[str, float]:
        batch = max(1, t.micro_batch)
        losses = {n: evaluate(ddp_model, v, t.seq_len, t.eval_tokens, batch, device, autocast)
                  for n, v in val_tokens.items()}  # fmt: skip
        out = {}
        for n, v in losses.items():
            out.update({f"val_{n}_loss": round(v, 6), f"val_{n}_ppl": round(math.exp(min(v, 50.0)), 4),
                        f"val_{n}_bpb": round(bits_per_byte(v, val_count[n], val_bytes[n]), 6)})  # fmt: skip
        if skip_blocks:  # final evaluation only: the loss with every block skipped
            for n, v in val_tokens.items():
                skip = evaluate(ddp_model, v, t.seq_len, t.eval_tokens, batch, device, autocast, skip_blocks=True)
                out[f"val_{n}_skip_loss"] = round(skip, 6)
        return out

    bar = None
    if progress and rank == 0:

        bar = tqdm(total=t.steps, initial=start_step, desc=cfg.name, unit="step", dynamic_ncols=True)
    status, diverged_at = "completed", None
    step_times: list[float] = []  # the first steps of this process: the compile time is the first one's excess
    tic = time.perf_counter()
    metrics_file = open(metrics_path, "a") if rank == 0 else None
    ddp_model.train()
    step = start_step
    for step in range(start_step, t.steps):
        step_tic = time.perf_counter()
        lr, wd = lr_at(step, t), wd_at(step, t)
        for group in optimizer.param_groups:
            group["lr"] = lr
            group["weight_decay"] = wd if group["decays"] else 0.0
        x_all, y_all, ids = stream.batch(step, global_batch, rank, world)
        if trace is not None:
            _trace(trace, rank, step, ids)
        micro = list(zip(x_all.split(t.micro_batch), y_all.split(t.micro_batch)))
        loss_sum, parts = torch.zeros((), device=device), {}
        for i, (x, y) in enumerate(micro):
            sync = i == len(micro) - 1 or world == 1 or t.parallel == "fsdp"
            ctx = ddp_model.no_sync() if not sync else nullcontext()  # type: ignore[operator]
            with ctx, autocast():
                if distiller is not None:
                    loss, terms = distiller.loss(ddp_model, model, x.to(device), y.to(device), step)
                    parts = {k: parts.get(k, 0.0) + v / len(micro) for k, v in terms.items()}
                else:
                    _, loss = step_model(x.to(device), y.to(device))
                (loss / len(micro)).backward()
            loss_sum += loss.detach()
        loss_val = loss_sum / len(micro)
        # divergence is judged on the cross-entropy, one quantity for the whole run: a distillation run's objective
        # gains its weighted KD terms at cpt_steps, a jump that is not a divergence
        ce_val = torch.tensor(parts["ce"], device=device) if "ce" in parts else loss_val
        if world > 1:
            dist.all_reduce(loss_val, op=dist.ReduceOp.AVG)
            if ce_val is not loss_val:
                dist.all_reduce(ce_val, op=dist.ReduceOp.AVG)
        loss_f, ce_f = float(loss_val), float(ce_val)
        max_norm = t.grad_clip if t.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # DTensor under FSDP
        if not math.isfinite(loss_f) or not math.isfinite(grad_norm) or ce_f > t.diverge_factor * min_loss:
            status, diverged_at = "diverged", step
            log.warning("%s diverged at step %d (loss %.4g, grad norm %.4g)", cfg.name, step, loss_f, grad_norm)
            optimizer.zero_grad(set_to_none=True)
        else:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            min_loss = min(min_loss, ce_f)
        dt = time.perf_counter() - step_tic
        if len(step_times) < 21:
            step_times.append(dt)
        record: dict[str, Any] = {"step": step, "tokens": (step + 1) * t.batch_tokens, "loss": round(loss_f, 6),
                                  "lr": lr, "weight_decay": wd, "grad_norm": round(grad_norm, 6),
                                  "tokens_per_s": round(t.batch_tokens / dt, 1),
                                  **{k: round(v, 6) for k, v in parts.items()}}  # fmt: skip
        done = step + 1
        if status == "completed" and (done % t.eval_every == 0 or done == t.steps):
            record.update(split="val", **eval_all())
        if metrics_file:
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
        if bar:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_f:.3f}", lr=f"{lr:.2e}")
        if status == "diverged":
            break
        if done % t.ckpt_every == 0 and done < t.steps:
            weights, optim_state = full_state(model, optimizer)
            state = {"optimizer": optim_state, "step": done, "min_loss": min_loss,
                     "wall_time": wall_before + time.perf_counter() - tic, "rng": capture_rng()}  # fmt: skip
            if rank == 0:
                save_model_dir(out / "checkpoint", weights, cfg, meta, extra=state)
        if stop_after is not None and done >= stop_after:
            if metrics_file:
                metrics_file.close()
            return {"status": "stopped", "step": done}
    if bar:
        bar.close()
    if metrics_file:
        metrics_file.close()
    wall = wall_before + time.perf_counter() - tic
    summary: dict[str, Any] = {"run_id": cfg.run_id, "name": cfg.name, "profile": cfg.profile, "size": cfg.size,
                               "variant": cfg.variant, "status": status, "steps": step + 1,
                               "tokens": (step + 1) * t.batch_tokens, "wall_time_s": round(wall, 1),
                               "device": str(device), "world_size": world,
                               "params_nonembedding": model.count_params(non_embedding=True),
                               "params_total": model.count_params(non_embedding=False),
                               "precision": precision, "precision_note": note,
                               "compile": step_model is not ddp_model, "data_format": stream.format,
                               "data_tokens": stream.n_tokens,
                               "epochs": round(stream.epochs(step + 1, global_batch), 4)}  # fmt: skip
    if summary["epochs"] > 1:
        summary["data_repeats"] = True
    if step_model is not ddp_model and len(step_times) > 1:  # compiled in this process (again after a resume)
        summary["compile_s"] = round(step_times[0] - float(np.median(step_times[1:])), 1)
    if cfg.distill is not None:
        summary["teacher"] = cfg.distill.teacher
    if status == "diverged":
        summary["diverged_at_step"] = diverged_at
    else:
        summary.update(eval_all(skip_blocks=True))
        if teacher is not None:  # the teacher on the same windows: what the student is distilled towards
            for n, v in val_tokens.items():
                loss = evaluate(teacher, v, t.seq_len, t.eval_tokens, max(1, t.micro_batch), device, autocast)
                summary[f"teacher_val_{n}_loss"] = round(loss, 6)
    weights, _ = full_state(model, optimizer)
    if rank == 0:
        save_model_dir(out / "model", weights, cfg, {**meta, "summary": summary})
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if world > 1:
        dist.barrier()
    return summary
