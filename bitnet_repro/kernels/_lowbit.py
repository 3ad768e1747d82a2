"""The Triton kernels shared by W2A8 (ternary, 2 bits per weight) and W1A8 (binary, 1 bit per weight).

Both formats use the row-block layout of `pack.py`: with P weights per byte and R = ceil(N / P) packed rows,
output row n sits in packed row n % R at bits BITS * (n // R). Decoding a code c: ternary w = c - 1, binary
w = 2 c - 1. `BITS` is a compile-time constant, so each format compiles to its own decode.

- GEMM (prefill, M >= 16): tiles of [BLOCK_M, BLOCK_K] activations and [BLOCK_N, BLOCK_K] weights decoded in
  registers, then an int8 x int8 -> int32 `tl.dot`.
- GEMV (decoding, M small): one program per (row, BLOCK_N outputs), products summed with `tl.sum`, so no
  16-row minimum applies.
"""

from __future__ import annotations

import math

import torch

from bitnet_repro.kernels._triton import device_for, require, tl, triton

if triton is not None:

    @triton.jit
    def _decode(p_ptr, rows, n, k, K, mask, BITS: tl.constexpr):
        byte = tl.load(p_ptr + (n % rows) * K + k, mask=mask, other=0)
        code = ((byte >> (BITS * (n // rows))) & ((1 << BITS) - 1)).to(tl.int8)
        if BITS == 2:
            w = code - 1  # ternary: stored as w + 1
        else:
            w = code * 2 - 1  # binary: stored as (w + 1) / 2
        return tl.where(mask, w, 0).to(tl.int8)

    @triton.jit
    def _gemm_kernel(x_ptr, p_ptr, o_ptr, M, N, K, rows, BITS: tl.constexpr, BLOCK_M: tl.constexpr,
                     BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # fmt: skip
        pid_m, pid_n = tl.program_id(0), tl.program_id(1)
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
        for k0 in range(0, K, BLOCK_K):
            rk = k0 + tl.arange(0, BLOCK_K)
            a = tl.load(x_ptr + rm[:, None] * K + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < K), other=0)
            w = _decode(p_ptr, rows, rn[:, None], rk[None, :], K, (rn[:, None] < N) & (rk[None, :] < K), BITS)
            acc += tl.dot(a, tl.trans(w), out_dtype=tl.int32)
        tl.store(o_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))

    @triton.jit
    def _gemv_kernel(x_ptr, p_ptr, o_ptr, M, N, K, rows, BITS: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_K: tl.constexpr):  # fmt: skip
        m, pid_n = tl.program_id(0), tl.program_id(1)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_N,), dtype=tl.int32)
        for k0 in range(0, K, BLOCK_K):
            rk = k0 + tl.arange(0, BLOCK_K)
            a = tl.load(x_ptr + m * K + rk, mask=rk < K, other=0).to(tl.int32)
            w = _decode(p_ptr, rows, rn[:, None], rk[None, :], K, (rn[:, None] < N) & (rk[None, :] < K), BITS)
            acc += tl.sum(w.to(tl.int32) * a[None, :], axis=1)
        tl.store(o_ptr + m * N + rn, acc, mask=rn < N)


def matmul(x_codes: torch.Tensor, packed: torch.Tensor, n_out: int, bits: int, gemv: bool | None = None,
           block_n: int = 64, block_k: int = 64) -> torch.Tensor:  # fmt: skip
    """int8 x [M, K] @ packed W [N, K]^T -> int32 [M, N]: GEMV below 16 rows (or when asked), GEMM otherwise."""
    require()
    M, K = x_codes.shape
    rows = math.ceil(n_out / (8 // bits))
    if packed.shape != (rows, K):
        raise ValueError(f"packed weights {tuple(packed.shape)} do not match N={n_out}, K={K}: expected ({rows}, {K})")
    out = torch.empty(M, n_out, dtype=torch.int32, device=x_codes.device)
    device_for(x_codes, packed, out)
    if gemv if gemv is not None else M < 16:
        _gemv_kernel[(M, triton.cdiv(n_out, block_n))](x_codes, packed, out, M, n_out, K, rows, BITS=bits,
                                                       BLOCK_N=block_n, BLOCK_K=block_k)  # fmt: skip
    else:
        bm = 16 if M < 64 else 64
        grid = (triton.cdiv(M, bm), triton.cdiv(n_out, block_n))
        _gemm_kernel[grid](x_codes, packed, out, M, n_out, K, rows, BITS=bits, BLOCK_M=bm, BLOCK_N=block_n,
                           BLOCK_K=block_k)  # fmt: skip
    return out
