"""W2A8 matmul: ternary weights packed 2 bits per weight (Hugging Face BitNet layout, `pack.pack_ternary`)
times int8 activations, accumulated in int32; the scales are applied after (Appendix D's inference notes):
out = acc / x_scale * beta.

Reference: `reference(x_codes, packed, n_out)` unpacks and multiplies in int32 on the plain path.

Kernels, one per shape:
- GEMM (prefill, M >= 16): tiles of [BLOCK_M, BLOCK_K] activations and [BLOCK_N, BLOCK_K] weights decoded from
  the packed bytes in registers (row n sits in packed row n % R at bits 2 (n // R), R = ceil(N / 4)), then an
  int8 x int8 -> int32 `tl.dot`.
- GEMV (decoding, M small): one program per (row, BLOCK_N outputs), products summed with `tl.sum`, so no
  16-row minimum applies.
Integer results equal the reference exactly (tests, interpreter mode).
"""

from __future__ import annotations

import math

import torch

from ._triton import device_for, require, tl, triton
from .pack import unpack_ternary


def reference(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int) -> torch.Tensor:
    """int8 x [M, K] @ ternary W [N, K]^T -> int32 [M, N] on the plain path."""
    w = unpack_ternary(packed, n_out).to(torch.int32)
    return x_codes.to(torch.int32) @ w.T


def dequantize(acc: torch.Tensor, x_scale: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """int32 accumulators -> float outputs: divide by the activations' per-row scale, multiply by beta."""
    return acc.float() / x_scale * beta


if triton is not None:

    @triton.jit
    def _decode_ternary(p_ptr, rows, n, k, K, mask):
        byte = tl.load(p_ptr + (n % rows) * K + k, mask=mask, other=0)
        return (((byte >> (2 * (n // rows))) & 3).to(tl.int8) - 1).to(tl.int8)

    @triton.jit
    def _gemm_kernel(x_ptr, p_ptr, o_ptr, M, N, K, rows, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_K: tl.constexpr):  # fmt: skip
        pid_m, pid_n = tl.program_id(0), tl.program_id(1)
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
        for k0 in range(0, K, BLOCK_K):
            rk = k0 + tl.arange(0, BLOCK_K)
            a = tl.load(x_ptr + rm[:, None] * K + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < K), other=0)
            wmask = (rn[:, None] < N) & (rk[None, :] < K)
            w = _decode_ternary(p_ptr, rows, rn[:, None], rk[None, :], K, wmask)
            w = tl.where(wmask, w, 0).to(tl.int8)
            acc += tl.dot(a, tl.trans(w), out_dtype=tl.int32)
        tl.store(o_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))

    @triton.jit
    def _gemv_kernel(x_ptr, p_ptr, o_ptr, M, N, K, rows, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        m, pid_n = tl.program_id(0), tl.program_id(1)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_N,), dtype=tl.int32)
        for k0 in range(0, K, BLOCK_K):
            rk = k0 + tl.arange(0, BLOCK_K)
            a = tl.load(x_ptr + m * K + rk, mask=rk < K, other=0).to(tl.int32)
            wmask = (rn[:, None] < N) & (rk[None, :] < K)
            w = _decode_ternary(p_ptr, rows, rn[:, None], rk[None, :], K, wmask)
            w = tl.where(wmask, w, 0).to(tl.int32)
            acc += tl.sum(w * a[None, :], axis=1)
        tl.store(o_ptr + m * N + rn, acc, mask=rn < N)


def matmul(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int, gemv: bool | None = None,
           block_n: int = 64, block_k: int = 64) -> torch.Tensor:  # fmt: skip
    """Triton version of `reference`: GEMV below 16 rows (or when asked), GEMM otherwise."""
    require()
    M, K = x_codes.shape
    rows = math.ceil(n_out / 4)
    if packed.shape != (rows, K):
        raise ValueError(f"packed weights {tuple(packed.shape)} do not match N={n_out}, K={K}: expected ({rows}, {K})")
    out = torch.empty(M, n_out, dtype=torch.int32, device=x_codes.device)
    device_for(x_codes, packed, out)
    if gemv if gemv is not None else M < 16:
        _gemv_kernel[(M, triton.cdiv(n_out, block_n))](x_codes, packed, out, M, n_out, K, rows, BLOCK_N=block_n,
                                                       BLOCK_K=block_k)  # fmt: skip
    else:
        bm = 16 if M < 64 else 64
        grid = (triton.cdiv(M, bm), triton.cdiv(n_out, block_n))
        _gemm_kernel[grid](x_codes, packed, out, M, n_out, K, rows, BLOCK_M=bm, BLOCK_N=block_n, BLOCK_K=block_k)
    return out
