"""W1A8 matmul for BitNet b1: binary weights {-1, +1} packed 1 bit per weight (`pack.pack_binary`: row n in
packed row n % R at bit n // R, R = ceil(N / 8), stored as (w + 1) / 2) times int8 activations, int32
accumulation, scales after: out = acc / x_scale * beta (`w2a8.dequantize`).

Reference: `reference(x_codes, packed, n_out)` on the plain path. Kernel: `_lowbit` with BITS=1; integer
results equal the reference exactly.
"""

from __future__ import annotations

import torch

from bitnet_repro.kernels import _lowbit
from bitnet_repro.kernels.pack import unpack_binary


def reference(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int) -> torch.Tensor:
    w = unpack_binary(packed, n_out).to(torch.int32)
    return x_codes.to(torch.int32) @ w.T


def matmul(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int, gemv: bool | None = None,
           block_n: int = 64, block_k: int = 64) -> torch.Tensor:  # fmt: skip
    """Triton version of `reference`: GEMV below 16 rows (or when asked), GEMM otherwise."""
    return _lowbit.matmul(x_codes, packed, n_out, 1, gemv, block_n, block_k)
