"""W2A8 matmul: ternary weights packed 2 bits per weight (Hugging Face BitNet layout, `pack.pack_ternary`)
times int8 activations, accumulated in int32; the scales are applied after (Appendix D's inference notes):
out = acc / x_scale * beta.

Reference: `reference(x_codes, packed, n_out)` unpacks and multiplies in int32 on the plain path.
Kernel: `_lowbit` with BITS=2 (a GEMV for decoding, a `tl.dot` GEMM for prefill). Integer results equal the
reference exactly (tests, interpreter mode).
"""

from __future__ import annotations

import torch

from bitnet_repro.kernels import _lowbit
from bitnet_repro.kernels.pack import unpack_ternary


def reference(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int) -> torch.Tensor:
    """int8 x [M, K] @ ternary W [N, K]^T -> int32 [M, N] on the plain path."""
    w = unpack_ternary(packed, n_out).to(torch.int32)
    return x_codes.to(torch.int32) @ w.T


def dequantize(acc: torch.Tensor, x_scale: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """int32 accumulators -> float outputs: divide by the activations' per-row scale, multiply by beta."""
    return acc.float() / x_scale * beta


def matmul(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int, gemv: bool | None = None,
           block_n: int = 64, block_k: int = 64) -> torch.Tensor:  # fmt: skip
    """Triton version of `reference`: GEMV below 16 rows (or when asked), GEMM otherwise."""
    return _lowbit.matmul(x_codes, packed, n_out, 2, gemv, block_n, block_k)
