"""Fused RMSNorm + per-token int8 absmax quantization (Appendix D's `activation_norm_quant`).

Reference: `reference(x, weight, eps)` in plain PyTorch, the same ops as BitLinear's RMSNorm followed by
Appendix D's `activation_quant`: y = RMSNorm(x) * weight, scale = 127 / max(|y|, 1e-5) per row,
codes = clamp(round(y * scale), -128, 127). Returns int8 codes and the float32 scale per row (the matmul
divides by it after the int32 accumulation).

Kernel: one program per row; the row is read once, normalised, scaled and rounded in registers. The mean of
squares is summed in another order than PyTorch's, so a code can differ by one where y * scale falls within an
ulp of a rounding boundary (tests: at most 1e-4 of the codes, by one).
"""

from __future__ import annotations

import torch

from bitnet_repro.kernels._triton import ROUND_MAGIC, device_for, require, tl, triton

QMAX = 127.0


def reference(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """x [M, K] -> (int8 codes [M, K], float32 scale [M, 1])."""
    h = x.float()
    y = weight.float() * torch.nn.functional.rms_norm(h, (h.shape[-1],), eps=eps)
    scale = QMAX / y.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return (y * scale).round().clamp(-128, 127).to(torch.int8), scale


if triton is not None:

    @triton.jit
    def _norm_quant_kernel(x_ptr, w_ptr, q_ptr, s_ptr, K, eps, MAGIC: tl.constexpr, BLOCK_K: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK_K)
        mask = cols < K
        x = tl.load(x_ptr + row * K + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
        rms = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / K + eps)
        y = x * rms * w
        scale = 127.0 / tl.maximum(tl.max(tl.abs(y), axis=0), 1e-5)
        q = (y * scale + MAGIC) - MAGIC  # round half to even (ROUND_MAGIC)
        q = tl.minimum(tl.maximum(q, -128.0), 127.0)
        tl.store(q_ptr + row * K + cols, q.to(tl.int8), mask=mask)
        tl.store(s_ptr + row, scale)


def norm_quant(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton version of `reference`."""
    require()
    M, K = x.shape
    q = torch.empty(M, K, dtype=torch.int8, device=x.device)
    s = torch.empty(M, 1, dtype=torch.float32, device=x.device)
    device_for(x, weight, q, s)
    _norm_quant_kernel[(M,)](x, weight, q, s, K, eps, MAGIC=ROUND_MAGIC, BLOCK_K=triton.next_power_of_2(K))
    return q, s
