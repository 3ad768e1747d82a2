"""Numeric precision of training, evaluation and the benchmarks: fp32, or bf16 autocast.

    auto   bf16 where the device has native bf16 matrix units: CUDA, or a CPU with AMX-BF16 or AVX512-BF16;
           fp32 elsewhere (without those units a CPU emulates bf16 and a bf16 matmul is several times slower
           than an fp32 one, so `auto` falls back and says so)
    fp32   no autocast
    bf16   torch.autocast(dtype=bfloat16): matmuls (and so BitLinear's F.linear) take bf16 inputs and accumulate
           in fp32 (AMX, tensor cores), and round their outputs to bf16; everything else keeps its dtype

A run's config holds the resolved value (`fp32` or `bf16`), never `auto`, so the run id says what ran.

What bf16 does to BitNet. The quantizers (absmean, absmax, round, clamp; bitlinear.py) compute in fp32 whatever
their input's dtype, so the integer codes are those of an fp32 run. The fake-quantized operands of the matmul are
then rounded to bf16 as on a GPU under autocast (the paper's training): a ternary weight code times beta becomes
+-bf16(beta) (one relative error for the whole tensor, at most 2^-9), an 8-bit activation code times its scale
loses bits below the 8th, and the output is rounded to bf16. The exact alternative, integer codes through
`torch._int_mm` (int8 x int8 -> int32) and the scales applied in fp32, ran at about 40% of the bf16 rate on a CPU
with AMX and needs its own backward; `bench` measures both errors (results/<profile>/bench/).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_bf16_native() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AMX-BF16 or AVX512-BF16) that torch uses."""
    cpu = getattr(torch._C, "_cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(bool(check()) for check in checks if check is not None)


def resolve_precision(precision: str, device: str) -> str:
    """`auto` -> `bf16` or `fp32` for `device` ('cpu' or 'cuda'); `fp32` and `bf16` unchanged.

    CUDA resolves to bf16 without looking at a GPU: profiles are resolved where Snakemake runs (a login node has
    none), and every GPU the paper's recipes target (A100, H100) has bf16 tensor cores."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {list(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "bf16"
    return "bf16" if cpu_bf16_native() else "fp32"


def precision_note(precision: str, device: torch.device | str) -> str:
    """One line for the log and the summary: what runs, and why when it is not what `auto` would pick here."""
    dev = torch.device(device).type
    if dev != "cpu":
        return f"{precision} on {dev}"
    native = cpu_bf16_native()
    if precision == "bf16" and not native:
        return "bf16 on a CPU without native bf16 units (AMX, AVX512-BF16): emulated, slower than fp32"
    if precision == "fp32" and not native:
        return "fp32: this CPU has no native bf16 units (AMX, AVX512-BF16), so `auto` falls back to fp32"
    return f"{precision} on a CPU with native bf16 units"


def autocast(precision: str, device: torch.device | str) -> Any:
    """A factory of the context to run forward passes in: `with autocast(p, dev)(): ...`."""
    if precision == "fp32":
        return nullcontext
    if precision != "bf16":
        raise ValueError(f"precision={precision!r}: resolve `auto` first (resolve_precision)")
    dev = torch.device(device).type
    return lambda: torch.autocast(dev, dtype=torch.bfloat16)
