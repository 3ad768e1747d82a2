"""W1A8 matmul for BitNet b1: binary weights {-1, +1} packed 1 bit per weight (`pack.pack_binary`: row n in
packed row n % R at bit n // R, R = ceil(N / 8), stored as (w + 1) / 2) times int8 activations, int32
accumulation, scales after: out = acc / x_scale * beta.

Reference: `reference(x_codes, packed, n_out)` on the plain path. The kernels mirror `w2a8`'s GEMM (tl.dot,
M >= 16) and GEMV (tl.sum) with a 1-bit decode; integer results equal the reference exactly.
"""

from __future__ import annotations

import math

import torch

from ._triton import device_for, require, tl, triton
from .pack import unpack_binary
from .w2a8 import dequantize  # noqa: F401  (same scale handling as W2A8)


def reference(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int) -> torch.Tensor:
    w = unpack_binary(packed, n_out).to(torch.int32)
    return x_codes.to(torch.int32) @ w.T


if triton is not None:

    @triton.jit
    def _decode_binary(p_ptr, rows, n, k, K, mask):
        byte = tl.load(p_ptr + (n % rows) * K + k, mask=mask, other=0)
        return (((byte >> (n // rows)) & 1).to(tl.int8) * 2 - 1).to(tl.int8)

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
            w = tl.where(wmask, _decode_binary(p_ptr, rows, rn[:, None], rk[None, :], K, wmask), 0).to(tl.int8)
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
            w = tl.where(wmask, _decode_binary(p_ptr, rows, rn[:, None], rk[None, :], K, wmask), 0).to(tl.int32)
            acc += tl.sum(w * a[None, :], axis=1)
        tl.store(o_ptr + m * N + rn, acc, mask=rn < N)


def matmul(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int, gemv: bool | None = None,
           block_n: int = 64, block_k: int = 64) -> torch.Tensor:  # fmt: skip
    """Triton version of `reference`: GEMV below 16 rows (or when asked), GEMM otherwise."""
    require()
    M, K = x_codes.shape
    rows = math.ceil(n_out / 8)
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
