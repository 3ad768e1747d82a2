"""The paper's own reference code (Appendix D, Figure 11; Appendix E, Figure 13), kept verbatim as an
oracle for the tests and as the "naive" baseline of the training-cost benchmark. Only `RMSNorm`, which
the figure leaves undefined, is made concrete (the LLaMA RMSNorm with a learnable gain)."""

from __future__ import annotations

import copy

import torch.nn as nn
import torch.nn.functional as F

from bitnet_repro.bitlinear import RMSNorm
from bitnet_repro.model import Transformer


def activation_quant(x):
    """Per-token quantization to 8 bits. No grouping is needed for quantization.
    Args:
        x: an activation tensor with shape [n, d]
    Returns:
        y: a quantized activation tensor with shape [n, d]
    """
    scale = 127.0 / x.abs().max(dim=-1, keepdim=True).values.clamp(min=1e-5)
    y = (x * scale).round().clamp(-128, 127) / scale
    return y


def weight_quant(w):
    """Per-tensor quantization to 1.58 bits. No grouping is needed for quantization.
    Args:
        w: a weight tensor with shape [d, k]
    Returns:
        u: a quantized weight with shape [d, k]
    """
    scale = 1.0 / w.abs().mean().clamp(min=1e-5)
    u = (w * scale).round().clamp(-1, 1) / scale
    return u


def weight_quant_b1(w):
    """Appendix E. Per-tensor quantization to 1 bits. No grouping is needed for quantization."""
    scale = w.abs().mean()
    e = w.mean()
    u = (w - e).sign() * scale
    return u


class BitLinear(nn.Linear):
    """
    This is only for training, and kernel optimization is needed for efficiency.
    """

    def __init__(self, in_features, out_features, bias=False, weight_quant_fn=weight_quant, norm_eps=1e-5):
        super().__init__(in_features, out_features, bias=bias)
        self.rms_norm = RMSNorm(in_features, eps=norm_eps)
        self.weight_quant_fn = weight_quant_fn

    def forward(self, x):
        w = self.weight  # a weight tensor with shape [d, k]
        x_norm = self.rms_norm(x)
        # A trick for implementing Straight-Through-Estimator (STE) using detach()
        x_quant = x_norm + (activation_quant(x_norm) - x_norm).detach()
        w_quant = w + (self.weight_quant_fn(w) - w).detach()
        y = F.linear(x_quant, w_quant)
        return y


def appendix_d_model(model: Transformer) -> Transformer:
    """A copy of a BitNet `subln` model in Appendix D's layout: "replace all nn.Linear in attention and
    SwiGLU with BitLinear" (each with its own RMSNorm) and "remove RMSNorm before attention and SwiGLU".
    Each BitLinear's norm gain is copied from the norm it replaces, so the two models compute the same
    function exactly when the layout claim of model.py holds."""
    if model.cfg.arch != "subln" or not model.cfg.is_bitnet:
        raise ValueError("appendix_d_model needs a BitNet model with arch='subln'")
    wq = weight_quant_b1 if model.cfg.linear == "bitnet_b1" else weight_quant
    ref = copy.deepcopy(model)
    for block in ref.layers:
        attn, mlp = block.self_attn, block.mlp
        norms = {"q_proj": block.input_layernorm, "k_proj": block.input_layernorm, "v_proj": block.input_layernorm,
                 "o_proj": attn.attn_sub_norm, "gate_proj": block.post_attention_layernorm,
                 "up_proj": block.post_attention_layernorm, "down_proj": mlp.ffn_sub_norm}  # fmt: skip
        for name, norm in norms.items():
            parent = attn if name in ("q_proj", "k_proj", "v_proj", "o_proj") else mlp
            old = getattr(parent, name)
            new = BitLinear(old.in_features, old.out_features, weight_quant_fn=wq, norm_eps=norm.eps)
            new.weight.data.copy_(old.weight.data)
            new.rms_norm.weight.data.copy_(norm.weight.data)
            setattr(parent, name, new)
        for parent, name in [(block, "input_layernorm"), (block, "attn_quant"), (block, "post_attention_layernorm"),
                             (block, "mlp_quant"), (attn, "attn_sub_norm"), (attn, "o_quant"),
                             (mlp, "ffn_sub_norm"), (mlp, "down_quant")]:  # fmt: skip
            setattr(parent, name, nn.Identity())
    return ref
