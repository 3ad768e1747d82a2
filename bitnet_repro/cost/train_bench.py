"""Training-cost benchmark: step time of FP16 and BitNet models of one size, measured side by side.

The variants are interleaved within each repeat (fp16, b1.58, b1, naive, fp16, ...) so that machine noise
hits them alike; the reported ratio is the median over repeats of BitNet time / FP16 time of that repeat.
"naive" is the paper's Appendix D code (bitnet_repro.reference) in the Appendix D layout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from bitnet_repro.config import TrainConfig
from bitnet_repro.model import Transformer
from bitnet_repro.profile import load_profile, make_run, profile_data
from bitnet_repro.reference import appendix_d_model
from bitnet_repro.train import make_optimizer
from bitnet_repro.utils import atomic_write_text, run_meta

log = logging.getLogger(__name__)

VARIANTS = ("fp16", "bitnet_b158", "bitnet_b1", "bitnet_b158_appendix_d")


def _model(size: str, variant: str, profile: dict[str, Any]) -> tuple[Transformer, TrainConfig]:
    data = profile_data(profile)
    base = "bitnet_b158" if variant.endswith("appendix_d") else variant
    run = make_run(profile, data, size, base)
    model = Transformer(run.model)
    return (appendix_d_model(model) if variant.endswith("appendix_d") else model), run.train


def _time_steps(model: torch.nn.Module, t: TrainConfig, steps: int, vocab: int, device: torch.device,
                warmup: int = 1) -> float:  # fmt: skip
    """Seconds per optimizer step of one micro-batch (forward, backward, AdamW), after `warmup` untimed
    steps; bf16 autocast on CUDA as in training."""
    model.to(device)
    opt = make_optimizer(model, t)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (t.micro_batch, t.seq_len), generator=g).to(device)
    cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    times = []
    for i in range(steps + warmup):
        if cuda:
            torch.cuda.synchronize()
        tic = time.perf_counter()
        with autocast:
            _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - tic)
    model.to("cpu")  # free device memory for the next variant
    del opt
    return statistics.median(times)


def bench_train_step(size: str, out: Path, steps: int = 10, repeats: int = 5, threads: int = 0,
                     profile: str = "cpu", device: str = "cpu", variants: tuple[str, ...] = VARIANTS,
                     compile: bool = False) -> dict[str, Any]:  # fmt: skip
    """`compile` wraps each model in torch.compile (fusing the quantizers' elementwise work); the first three
    steps of each repeat, which include compilation, are not timed."""
    dev = torch.device(device)
    if threads:
        torch.set_num_threads(threads)
    prof = load_profile(profile)
    torch.manual_seed(0)
    if "fp16" not in variants:
        raise ValueError("the benchmark needs the fp16 variant as its baseline")
    models = {v: _model(size, v, prof) for v in variants}
    if compile:
        models = {v: (torch.compile(m), t) for v, (m, t) in models.items()}
    t = models["fp16"][1]
    vocab = models["fp16"][0].cfg.vocab_size
    per_repeat: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(repeats):
        for v in variants:
            per_repeat[v].append(_time_steps(models[v][0], t, steps, vocab, dev, warmup=3 if compile else 1))
        log.info("repeat %d: %s", r, {v: f"{per_repeat[v][-1] * 1e3:.1f} ms" for v in variants})
    ratios = {v: statistics.median(a / b for a, b in zip(per_repeat[v], per_repeat["fp16"]))
              for v in variants if v != "fp16"}  # fmt: skip
    result = {
        "what": "training step time (forward + backward + AdamW) of one micro-batch, BitNet vs FP16",
        "profile": profile, "size": size, "micro_batch": t.micro_batch, "seq_len": t.seq_len,
        "threads": torch.get_num_threads(), "steps_per_repeat": steps, "repeats": repeats,
        "step_time_ms_median": {v: round(statistics.median(x) * 1e3, 2) for v, x in per_repeat.items()},
        "step_time_ms_all": {v: [round(s * 1e3, 2) for s in x] for v, x in per_repeat.items()},
        "ratio_to_fp16_median": {v: round(x, 3) for v, x in ratios.items()},
        "goal": "bitnet_b158 / fp16 <= 1.15 on CPU",
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "autocast": "bf16" if dev.type == "cuda" else "none (fp32)",
        "torch_compile": compile,
        "meta": run_meta(device=str(dev)),
    }  # fmt: skip
    atomic_write_text(out, json.dumps(result, indent=2))
    log.info("ratios to fp16: %s", result["ratio_to_fp16_median"])
    return result
