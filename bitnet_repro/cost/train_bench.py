"""Training-cost benchmark: step time of FP16 and BitNet models of one size, measured side by side, eager and with
torch.compile, in fp32 and (where the CPU has bf16 units, or on CUDA) in bf16 autocast.

The variants and modes are interleaved within each repeat (fp16, b1.58, b1, naive, fp16, ...) so that machine
noise hits them alike; the reported ratio is the median over repeats of BitNet time / FP16 time of that repeat.
"naive" is the paper's Appendix D code (bitnet_repro.reference) in the Appendix D layout. On CPU the result also
holds the model FLOPs per second against this machine's own matmul rate at the step's shapes (the fraction of the
machine the step uses) and how far BitLinear's bf16 forward pass is from exact integer arithmetic.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bitnet_repro.bitlinear import BitLinear, activation_quant, quantize_activation_int
from bitnet_repro.config import ModelConfig, TrainConfig
from bitnet_repro.model import Transformer
from bitnet_repro.precision import autocast as precision_autocast
from bitnet_repro.precision import cpu_bf16_native
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
                precision: str = "fp32", warmup: int = 1) -> float:  # fmt: skip
    """Seconds per optimizer step of one micro-batch (forward, backward, AdamW), after `warmup` untimed
    steps, in `precision` (bf16: autocast, as in training)."""
    model.to(device)
    opt = make_optimizer(model, t)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (t.micro_batch, t.seq_len), generator=g).to(device)
    cuda = device.type == "cuda"
    autocast = precision_autocast(precision, device)
    times = []
    for i in range(steps + warmup):
        if cuda:
            torch.cuda.synchronize()
        tic = time.perf_counter()
        with autocast():
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


def step_flops(cfg: ModelConfig, tokens: int) -> float:
    """Model FLOPs of one training step (forward + backward) on `tokens` tokens of length `cfg.max_seq_len`:
    6 N per token for the matmuls of the blocks and the head (N = their weights), plus 12 L d T per token for
    attention's QK^T and AV (PaLM, Chowdhery et al. 2022, App. B; causal masking not discounted)."""
    n = cfg.n_params_nonembedding + cfg.d_model * cfg.vocab_size
    return tokens * (6 * n + 12 * cfg.n_layers * cfg.d_model * cfg.max_seq_len)


def matmul_rate(m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 20, budget_s: float = 2.0) -> float:
    """FLOP/s of the fastest of up to `repeats` (m x k) @ (k x n) matmuls in `dtype` on this machine's threads
    (fewer where they take longer than `budget_s` in all: bf16 on a CPU that emulates it)."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    best, start = math.inf, time.perf_counter()
    for i in range(repeats + 1):
        tic = time.perf_counter()
        if dtype == torch.int8:
            torch._int_mm(a, b)
        else:
            a @ b
        if i >= 1:  # the first call warms up
            best = min(best, time.perf_counter() - tic)
        if i >= 2 and time.perf_counter() - start > budget_s:
            break
    return 2 * m * k * n / best


def bitlinear_error(tokens: int, d_in: int, d_out: int, seed: int = 0) -> dict[str, Any]:
    """How far BitLinear's forward pass is from exact integer arithmetic on a ladder-sized layer, in fp32, in bf16
    autocast (what training does: fake-quantized operands rounded to bf16, output rounded to bf16) and through
    `torch._int_mm` (int8 codes, int32 sums, scales in fp32); errors relative to the mean |output|."""
    g = torch.Generator().manual_seed(seed)
    x, w = torch.randn(tokens, d_in, generator=g), torch.randn(d_out, d_in, generator=g) * 0.02
    layer = BitLinear(d_in, d_out, norm=None, act_quant=None).eval()
    layer.weight.data.copy_(w)
    wq, beta = layer.integer_weights()
    xq, xs = quantize_activation_int(x)
    exact = (xq.double() @ wq.double().T) * beta.double() / xs.double()
    xf = activation_quant(x)
    with torch.no_grad():
        fp32 = F.linear(xf, layer.quantized_weight())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = F.linear(xf, layer.quantized_weight()).float()
        integer = torch._int_mm(xq, wq.T.contiguous()).double() * beta.double() / xs.double()
    scale = exact.abs().mean().item()
    err = {name: (y.double() - exact).abs() for name, y in (("fp32", fp32), ("bf16_autocast", bf16),
                                                           ("int8_int_mm", integer))}  # fmt: skip
    return {"shape": [tokens, d_in, d_out], "mean_abs_output": round(scale, 6),
            "max_rel_error": {k: float(f"{v.max().item() / scale:.3g}") for k, v in err.items()},
            "mean_rel_error": {k: float(f"{v.mean().item() / scale:.3g}") for k, v in err.items()}}


MODES = ("fp32", "fp32+compile", "bf16", "bf16+compile")


def default_modes(device: torch.device, compile: bool) -> tuple[str, ...]:
    """CUDA: bf16 (eager or compiled by `compile`). CPU: every mode where the CPU has native bf16 units, else the
    fp32 ones (an emulated bf16 step is several times slower than fp32: `auto` never trains in it)."""
    if device.type == "cuda":
        return ("bf16+compile" if compile else "bf16",)
    return MODES if cpu_bf16_native() else ("fp32", "fp32+compile")


def bench_train_step(size: str, out: Path, steps: int = 10, repeats: int = 5, threads: int = 0,
                     profile: str = "cpu", device: str = "cpu", variants: tuple[str, ...] = VARIANTS,
                     compile: bool = False, modes: tuple[str, ...] | None = None) -> dict[str, Any]:  # fmt: skip
    """Step time of each variant in each mode (`modes`, default `default_modes`: fp32 and bf16 autocast, each
    eager and with torch.compile; on CUDA bf16 only, eager or compiled by `compile`), interleaved within each
    repeat; ratios to FP16 of the same mode.
    The first three steps of a compiled model, which include compilation, are not timed."""
    dev = torch.device(device)
    if threads:
        torch.set_num_threads(threads)
    prof = load_profile(profile)
    torch.manual_seed(0)
    if "fp16" not in variants:
        raise ValueError("the benchmark needs the fp16 variant as its baseline")
    if modes is None:
        modes = default_modes(dev, compile)
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"modes {bad}: use {list(MODES)}")
    eager = {v: _model(size, v, prof) for v in variants}
    t = eager["fp16"][1]
    cfg = eager["fp16"][0].cfg
    models = {(mode, v): (torch.compile(m, fullgraph=True) if mode.endswith("compile") else m)
              for mode in modes for v, (m, _) in eager.items()}  # fmt: skip
    per_repeat: dict[tuple[str, str], list[float]] = {k: [] for k in models}
    for r in range(repeats):
        for mode, v in models:
            precision = mode.split("+")[0]
            per_repeat[mode, v].append(_time_steps(models[mode, v], t, steps, cfg.vocab_size, dev, precision,
                                                   warmup=3 if mode.endswith("compile") else 1))  # fmt: skip
        log.info("repeat %d: %s", r, {f"{m}/{v}": f"{x[-1] * 1e3:.1f} ms" for (m, v), x in per_repeat.items()})
    median = {k: statistics.median(x) for k, x in per_repeat.items()}
    tokens = t.micro_batch * t.seq_len
    flops = step_flops(cfg, tokens)
    result: dict[str, Any] = {
        "what": "training step time (forward + backward + AdamW) of one micro-batch, BitNet vs FP16, per precision",
        "profile": profile, "size": size, "micro_batch": t.micro_batch, "seq_len": t.seq_len,
        "params_nonembedding": cfg.n_params_nonembedding, "vocab_size": cfg.vocab_size,
        "threads": torch.get_num_threads(), "steps_per_repeat": steps, "repeats": repeats, "modes": list(modes),
        "step_time_ms_median": {m: {v: round(median[m, v] * 1e3, 2) for v in variants} for m in modes},
        "step_time_ms_all": {m: {v: [round(s * 1e3, 2) for s in per_repeat[m, v]] for v in variants} for m in modes},
        "ratio_to_fp16_median": {m: {v: round(statistics.median(a / b for a, b in zip(per_repeat[m, v],
                                                                                     per_repeat[m, "fp16"])), 3)
                                     for v in variants if v != "fp16"} for m in modes},  # fmt: skip
        "speedup_over_fp32_eager_median": {m: {v: round(statistics.median(a / b for a, b in zip(per_repeat["fp32", v],
                                                                                         per_repeat[m, v])), 3)
                                         for v in variants} for m in modes if "fp32" in modes},  # fmt: skip
        "model_flops_per_step": flops,
        "goal": "bitnet_b158 / fp16 <= 1.10 in the ladder's setting (its precision, compiled)",
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "cpu_bf16_native": cpu_bf16_native(),
        "torch_compile": any(m.endswith("compile") for m in modes),
        "meta": run_meta(device=str(dev)),
    }  # fmt: skip
    if dev.type == "cpu":
        # the machine's matmul rate at the step's own shapes (tokens x d @ d x d_ff and back), the best of up to 20
        shapes = [(tokens, cfg.d_model, cfg.d_ff), (tokens, cfg.d_ff, cfg.d_model)]
        rates = {name: max(matmul_rate(*s, dtype) for s in shapes)
                 for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("int8", torch.int8))}
        result["matmul_rate_gflops"] = {k: round(v / 1e9, 1) for k, v in rates.items()}
        result["model_gflops_per_s"] = {m: {v: round(flops / median[m, v] / 1e9, 2) for v in variants}
                                        for m in modes}  # fmt: skip
        best = "bf16" if cpu_bf16_native() else "fp32"  # the machine's fastest float matmul
        result["machine_matmul_rate"] = best
        result[f"fraction_of_{best}_matmul_rate"] = {m: {v: round(flops / median[m, v] / rates[best], 3)
                                                      for v in variants} for m in modes}  # fmt: skip
        result["bitlinear_forward_error"] = bitlinear_error(tokens, cfg.d_model, cfg.d_ff)
    atomic_write_text(out, json.dumps(result, indent=2))
    log.info("ratios to fp16: %s", result["ratio_to_fp16_median"])
    return result
