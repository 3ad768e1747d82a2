"""BitNet b1.58 inference in plain PyTorch on a CPU: ternary weights held as int8 codes, activations quantized
to int8 per token, int8 x int8 -> int32 products (`torch._int_mm`), both scales applied after (Appendix D's
inference notes). Weights take 1 byte each here, not 2 bits: PyTorch has no 2-bit CPU matmul (the packed
2-bit path is llama.cpp's TQ2_0 on CPU and our Triton kernel on GPU).

`to_int8_inference(model)` swaps every b1.58 BitLinear of a model for `TernaryInt8Linear` in place; its
forward equals BitLinear's up to float rounding (the integer product is exact), tests/test_cost.py.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from bitnet_repro.bitlinear import BitLinear, quantize_activation_int


class TernaryInt8Linear(nn.Module):
    def __init__(self, codes_t: torch.Tensor, beta: float) -> None:
        """codes_t: (in_features, out_features) int8 ternary codes, the layout `torch._int_mm` takes."""
        super().__init__()
        if codes_t.dtype != torch.int8:
            raise ValueError(f"codes must be int8, not {codes_t.dtype}")
        self.in_features, self.out_features = codes_t.shape
        self.register_buffer("codes_t", codes_t)
        self.beta = float(beta)

    @classmethod
    def from_codes(cls, codes: torch.Tensor, beta: float) -> TernaryInt8Linear:
        """From (out_features, in_features) codes, the layout of a linear layer's weight."""
        return cls(codes.to(torch.int8).t().contiguous(), beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        q, scale = quantize_activation_int(x.reshape(-1, shape[-1]))  # int8 per token, Appendix D
        y = torch._int_mm(q, self.codes_t).float() * (self.beta / scale)
        return y.to(x.dtype).reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 codes, beta={self.beta:.4g}"


def swap_bitlinears(model: nn.Module, make) -> None:
    """Replace every b1.58 BitLinear of `model` in place by `make(codes, beta)`."""
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if not isinstance(child, BitLinear):
                continue
            if child.variant != "bitnet_b158" or child.groups != 1 or child.norm is not None or child.act_quant:
                raise ValueError(f"{name}: the inference layers take b1.58 BitLinears with one scale per tensor")
            codes, beta = child.integer_weights()
            setattr(mod, name, make(codes, float(beta)))


def to_int8_inference(model) -> nn.Module:
    """Replace every BitNet b1.58 BitLinear by its int8 inference form (frees the latent weights)."""
    swap_bitlinears(model, TernaryInt8Linear.from_codes)
    return model
