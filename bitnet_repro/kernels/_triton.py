"""Shared by the Triton kernels: whether Triton can run here, and round-half-to-even in float32.

On a machine without a GPU, kernels run in Triton's interpreter (TRITON_INTERPRET=1, set before Triton is
imported), which is how the tests check them on the CPU."""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - the `gpu` or `test` extra installs it
    triton = tl = None

ROUND_MAGIC = 12582912.0  # 1.5 * 2**23: (x + M) - M rounds a float32 |x| < 2**22 to nearest, ties to even


def available() -> bool:
    return triton is not None


def require() -> None:
    if triton is None:
        raise RuntimeError("the Triton kernels need `triton`: pip install -e '.[gpu]' (or '.[test]')")


def device_for(*tensors: torch.Tensor) -> None:
    """Kernels read and write these tensors: on the GPU, or on the CPU under the interpreter."""
    interp = os.environ.get("TRITON_INTERPRET") == "1"
    for t in tensors:
        if not t.is_contiguous():
            raise ValueError("Triton kernels take contiguous tensors")
        if t.device.type == "cpu" and not interp:
            raise RuntimeError("CPU tensors need TRITON_INTERPRET=1 (set before triton is imported)")
