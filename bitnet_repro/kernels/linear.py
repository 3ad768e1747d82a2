"""BitNet b1.58 linear layers for inference, and the choice between them by device.

`PackedTernaryLinear` holds the weights packed 2 bits each (`pack.pack_ternary`, Hugging Face's layout) and
multiplies them with the Triton W2A8 kernel (`w2a8.py`: a GEMV for decoding, a GEMM for prefill) after
quantizing activations to int8 per token; beta and the activation scale are applied to the int32 result. On a
GPU that is the fast path; on a CPU it runs in Triton's interpreter (slow: tests only).
`cpu.TernaryInt8Linear` is the CPU path (int8 codes, `torch._int_mm`).

`for_inference(model, device)` converts a model in place: b1.58 BitLinears to the packed Triton layers on
CUDA and to the int8 layers on a CPU; FP16 models are cast to float16. The KV-cached decode loop
(`infer.generate`) then runs unchanged. Both layers compute BitLinear's integer product exactly
(tests/test_cost.py, tests/test_kernels.py).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from bitnet_repro.bitlinear import quantize_activation_int
from bitnet_repro.kernels import w2a8
from bitnet_repro.kernels.cpu import swap_bitlinears, to_int8_inference
from bitnet_repro.kernels.pack import pack_ternary


class PackedTernaryLinear(nn.Module):
    def __init__(self, packed: torch.Tensor, beta: float, out_features: int, in_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("packed", packed)
        self.beta = float(beta)

    @classmethod
    def from_codes(cls, codes: torch.Tensor, beta: float) -> PackedTernaryLinear:
        return cls(pack_ternary(codes), beta, *codes.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        q, scale = quantize_activation_int(x.reshape(-1, shape[-1]))
        acc = w2a8.matmul(q.contiguous(), self.packed, self.out_features)
        return w2a8.dequantize(acc, scale, self.beta).to(x.dtype).reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed 2-bit, beta={self.beta:.4g}"


def to_packed_inference(model: nn.Module) -> nn.Module:
    """Every b1.58 BitLinear -> PackedTernaryLinear (2-bit weights, Triton W2A8)."""
    swap_bitlinears(model, PackedTernaryLinear.from_codes)
    return model


def for_inference(model: nn.Module, device: str | torch.device) -> nn.Module:
    """The model ready for fast decoding on `device`: see the module docstring."""
    device = torch.device(device)
    if model.cfg.linear == "fp16":
        return model.to(device=device, dtype=torch.float16).eval()
    if model.cfg.linear != "bitnet_b158":
        raise ValueError(f"fast inference layers exist for FP16 and BitNet b1.58 models, not {model.cfg.linear}")
    if device.type == "cuda":
        to_packed_inference(model)
    else:
        to_int8_inference(model)
    return model.to(device=device, dtype=torch.float16).eval()
