"""BitLinear and its quantizers, as the BitNet paper defines them.

    weights, BitNet b1.58   Eq. 3-5   absmean RoundClip to {-1, 0, +1}          weight_quant_b158
    weights, BitNet b1      Eq. 1-2   Sign(W - alpha), Sign(0) = -1, scale beta  weight_quant_b1
    activations             Eq. 6-7   absmax to b bits (per token / per tensor)  activation_quant
    BitLinear               Eq. 9     y = W~ Quant(LN(x)) * beta * gamma / Q_p   BitLinear
    groups                  Eq. 14-15 G groups along the partition dimension     groups=G
    training                Sec. 2.2  straight-through estimator, latent fp weights

The quantizers return fake-quantized tensors (quantized values times their scale) in the input dtype and
compute in that dtype, operation for operation as the Appendix D/E reference code, so that they equal it
bitwise. The integer form and the separate scales, which low-bit kernels consume, come from
`quantize_weight_int` / `quantize_activation_int`.

Epsilon. Eq. 3 and Eq. 6 add eps to the scale's denominator (W / (beta + eps)); the Appendix D code clamps
the denominator at 1e-5 instead. Both are here (`eps_mode="add" | "clamp"`); the default is the appendix's
clamp, which is what the released code, Hugging Face's BitNet integration and llama.cpp compute.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5  # Appendix D: `.clamp(min=1e-5)` on both the weight and the activation scales
# Inputs in these dtypes (bf16 autocast, a model cast to half precision) are quantized in fp32 and the result cast
# back: absmean, absmax, round and clamp never run in 8 mantissa bits (bitnet_repro/precision.py)
LOW_PRECISION = (torch.bfloat16, torch.float16)


def _safe(denominator: torch.Tensor, eps: float, eps_mode: str) -> torch.Tensor:
    # "clamp": Appendix D code; "add": Eq. 3 and Eq. 6.
    return denominator.clamp(min=eps) if eps_mode == "clamp" else denominator + eps


def _grouped(t: torch.Tensor, groups: int, dim: int) -> torch.Tensor:
    """View `t` with `dim` split into (groups, size // groups); the group axis sits where `dim` was."""
    dim = dim % t.dim()
    size = t.shape[dim]
    if size % groups:
        raise ValueError(f"{groups} groups do not divide dimension {dim} of size {size}")
    return t.reshape(*t.shape[:dim], groups, size // groups, *t.shape[dim + 1 :])


# ------------------------------------------------------------------------------------------------------
# Weights
# ------------------------------------------------------------------------------------------------------


def weight_scale(w: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """beta = mean |W| (Eq. 5), per tensor or per group of output rows (Eq. 14); broadcastable to w."""
    if groups == 1:
        return w.abs().mean()
    g = _grouped(w, groups, 0)  # (G, out/G, in)
    return g.abs().mean(dim=tuple(range(1, g.dim())), keepdim=True).expand_as(g).reshape(w.shape)


def weight_quant_b158(w: torch.Tensor, eps: float = EPS, eps_mode: str = "clamp", groups: int = 1) -> torch.Tensor:
    """BitNet b1.58 weights, Eq. 3-5: RoundClip(W / beta, -1, 1) * beta (Appendix D `weight_quant`)."""
    if w.dtype in LOW_PRECISION:  # computed in fp32, as every quantizer here (precision.py)
        return weight_quant_b158(w.float(), eps, eps_mode, groups).to(w.dtype)
    scale = 1.0 / _safe(weight_scale(w, groups), eps, eps_mode)
    return (w * scale).round().clamp(-1, 1) / scale


def weight_quant_b1(w: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """BitNet b1 weights, Eq. 1-2: Sign(W - alpha) * beta with alpha = mean W, beta = mean |W|.

    Eq. 2 defines Sign(0) = -1. The Appendix E code uses `torch.sign`, which maps 0 to 0; the two differ only
    where a weight equals the mean exactly. We follow Eq. 2.
    """
    if w.dtype in LOW_PRECISION:
        return weight_quant_b1(w.float(), groups).to(w.dtype)
    if groups == 1:
        alpha = w.mean()
    else:
        g = _grouped(w, groups, 0)
        alpha = g.mean(dim=tuple(range(1, g.dim())), keepdim=True).expand_as(g).reshape(w.shape)
    sign = torch.where(w - alpha > 0, 1.0, -1.0).to(w.dtype)
    return sign * weight_scale(w, groups)


def quantize_weight_int(
    w: torch.Tensor, variant: str = "bitnet_b158", eps: float = EPS, eps_mode: str = "clamp"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer weights (int8 tensor holding {-1, 0, 1} for bitnet_b158 or {-1, 1} for bitnet_b1) and the
    per-tensor scale beta."""
    beta = weight_scale(w.float())
    if variant == "bitnet_b158":
        q = (w.float() / _safe(beta, eps, eps_mode)).round().clamp(-1, 1)
    elif variant == "bitnet_b1":
        q = torch.where(w.float() - w.float().mean() > 0, 1.0, -1.0)
    else:
        raise ValueError(f"variant={variant!r}: use 'bitnet_b158' (ternary) or 'bitnet_b1' (binary)")
    return q.to(torch.int8), beta


# ------------------------------------------------------------------------------------------------------
# Activations
# ------------------------------------------------------------------------------------------------------


def _reduce(x: torch.Tensor, fn: str, per: str, groups: int) -> torch.Tensor:
    """max |x| or min x per token (last dim) or per tensor, optionally in G groups of the last dim (Eq. 15)."""
    if groups > 1:
        g = _grouped(x, groups, -1)  # (..., G, d/G)
        dims: tuple[int, ...] = (-1,) if per == "token" else tuple(i for i in range(g.dim()) if i != g.dim() - 2)
        r = g.abs().amax(dim=dims, keepdim=True) if fn == "absmax" else g.amin(dim=dims, keepdim=True)
        return r.expand_as(g).reshape(x.shape)
    if per == "token":
        return x.abs().amax(dim=-1, keepdim=True) if fn == "absmax" else x.amin(dim=-1, keepdim=True)
    return x.abs().amax() if fn == "absmax" else x.amin()


def activation_quant(
    x: torch.Tensor,
    bits: int = 8,
    per: str = "token",
    unsigned: bool = False,
    eps: float = EPS,
    eps_mode: str = "clamp",
    groups: int = 1,
) -> torch.Tensor:
    """Absmax quantization to b bits, Eq. 6-7 (Appendix D `activation_quant` for the defaults).

    Signed: scale into [Q_n, Q_p] = [-2^(b-1), 2^(b-1) - 1] by Q_p / gamma, gamma = ||x||_inf.
    Unsigned (BitNet b1, inputs that follow a non-linearity, Sec. 3.1.1; Wang et al. 2023 Eq. 8): shift by
    eta = min x (Eq. 15) so every value is non-negative, then absmax-scale the shifted values into
    [0, 2^b - 1].
    """
    if per not in ("token", "tensor"):
        raise ValueError(f"per={per!r}: use 'token' or 'tensor'")
    if x.dtype in LOW_PRECISION:  # bf16 autocast: the quantizer's arithmetic stays in fp32 (precision.py)
        return activation_quant(x.float(), bits, per, unsigned, eps, eps_mode, groups).to(x.dtype)
    if unsigned:
        eta = _reduce(x, "min", per, groups)
        shifted = x - eta
        qp = 2**bits - 1
        scale = qp / _safe(_reduce(shifted, "absmax", per, groups), eps, eps_mode)
        return (shifted * scale).round_().clamp_(0, qp).div_(scale).add_(eta)
    qn, qp = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    scale = qp / _safe(_reduce(x, "absmax", per, groups), eps, eps_mode)
    # In place after the first product: the same values as Appendix D's expression, fewer allocations.
    return (x * scale).round_().clamp_(qn, qp).div_(scale)


def quantize_activation_int(x: torch.Tensor, bits: int = 8, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token int8 activations and their scales Q_p / gamma (Appendix D `activation_norm_quant`)."""
    qp = 2 ** (bits - 1) - 1
    scale = qp / x.float().abs().max(dim=-1, keepdim=True).values.clamp(min=eps)
    q = (x.float() * scale).round().clamp(-(qp + 1), qp)
    return q.to(torch.int8), scale


# ------------------------------------------------------------------------------------------------------
# Straight-through estimator (Sec. 2.2.1)
# ------------------------------------------------------------------------------------------------------


class _STE(torch.autograd.Function):
    """Forward: q = fn(x). Backward: dq/dx = I. The result equals Appendix D's `x + (fn(x) - x).detach()`
    in the forward pass, and its gradient is the same identity, without the extra add and subtract."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fn: Callable[..., torch.Tensor], kwargs: dict) -> torch.Tensor:  # type: ignore[override]
        return fn(x, **kwargs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        return grad, None, None


def ste(x: torch.Tensor, fn: Callable[..., torch.Tensor], **kwargs) -> torch.Tensor:
    return _STE.apply(x, fn, kwargs)


# ------------------------------------------------------------------------------------------------------
# Modules
# ------------------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """RMSNorm (Zhang and Sennrich 2019), the "LN" of Eq. 9; with groups > 1 it is the group normalization
    of Appendix A.1, each group of d/G channels normalised on its own. Computed in float32 as LLaMA does."""

    def __init__(self, dim: int, eps: float = 1e-5, groups: int = 1) -> None:
        super().__init__()
        self.eps, self.groups = eps, groups
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.to(torch.float32)
        if self.groups > 1:
            h = _grouped(h, self.groups, -1)
        h = F.rms_norm(h, (h.shape[-1],), eps=self.eps)  # x / sqrt(mean(x^2) + eps), one fused kernel
        return self.weight * h.reshape(x.shape).to(dtype)


class AbsmaxQuant(nn.Module):
    """Absmax activation quantizer (Eq. 6-7) with the straight-through estimator.

    `per_train` / `per_eval` choose per-token or per-tensor scales in training and inference; BitNet b1.58
    is per token in both (Sec. 4.1), BitNet b1 per tensor in training and per token at inference
    (Sec. 3.1.1) unless the Appendix E recipe is chosen.
    """

    def __init__(
        self,
        bits: int = 8,
        per_train: str = "token",
        per_eval: str = "token",
        unsigned: bool = False,
        eps: float = EPS,
        eps_mode: str = "clamp",
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.bits, self.per_train, self.per_eval, self.unsigned = bits, per_train, per_eval, unsigned
        self.eps, self.eps_mode, self.groups = eps, eps_mode, groups
        self.mix = 1.0  # set_quantization: 0 passes x through, 1 quantizes (the default), between blends

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per = self.per_train if self.training else self.per_eval
        q = ste(x, activation_quant, bits=self.bits, per=per, unsigned=self.unsigned, eps=self.eps,
                eps_mode=self.eps_mode, groups=self.groups) if self.mix else x  # fmt: skip
        return q if self.mix == 1.0 else torch.lerp(x, q, self.mix)

    def extra_repr(self) -> str:
        kind = "unsigned" if self.unsigned else "signed"
        return f"bits={self.bits}, {kind}, train={self.per_train}, eval={self.per_eval}, groups={self.groups}"


class _ElasticQuantFn(torch.autograd.Function):
    """Elastic (learnable-scale) quantization of BiT (Liu et al. 2022, Sec. 3), b-bit form of the released
    code (facebookresearch/bit, `transformer/utils_quant.py`, `ElasticQuantBinarizer{Signed,Unsigned}`,
    itself modified from LSQ, Esser et al. 2020):

        x_q = alpha * RoundClip((x - eta) / alpha, Q_n, Q_p) + eta     (eta = min x if unsigned, else 0)

    dx_q/dx     = 1 inside the clipping range, 0 outside (STE with clipping)
    dx_q/dalpha = round(u) - u inside, Q_n below, Q_p above (u = (x - eta) / alpha), times the LSQ gradient
                  scale 1 / sqrt(numel * Q_p)
    eta is a constant (the code takes it with `.item()`).
    """

    @staticmethod
    def forward(ctx, x, alpha, qn: int, qp: int, unsigned: bool):  # type: ignore[override]
        dtype = x.dtype
        x, alpha = x.float(), alpha.float()  # fp32 arithmetic under bf16 autocast (precision.py)
        eta = x.min().detach() if unsigned else x.new_zeros(())
        u = (x - eta) / alpha
        ctx.save_for_backward(u)
        ctx.qn, ctx.qp = qn, qp
        return (u.round().clamp(qn, qp) * alpha + eta).to(dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        qn, qp = ctx.qn, ctx.qp
        below, above = u < qn, u > qp
        inside = ~(below | above)
        grad_scale = 1.0 / math.sqrt(u.numel() * qp)
        d_alpha = torch.where(below, float(qn), torch.where(above, float(qp), u.round() - u))
        grad_alpha = (d_alpha * grad.float()).sum().reshape(1) * grad_scale
        return grad * inside, grad_alpha, None, None, None


class ElasticQuant(nn.Module):
    """BiT's elastic activation quantizer (Liu et al. 2022), as in its released code: one learnable scale
    alpha per quantizer, initialised on the first training batch (alpha = 2 mean|x| / sqrt(Q_p) signed,
    4 mean|x| / sqrt(Q_p) unsigned; `AlphaInit`), and a learnable per-channel shift added before quantizing
    (`LearnableBias`, the paper's beta with the opposite sign). Table 9 trains it with peak LR 1e-4
    (Table 11)."""

    def __init__(self, dim: int, bits: int = 8, unsigned: bool = False) -> None:
        super().__init__()
        self.bits, self.unsigned = bits, unsigned
        self.qn, self.qp = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        self.alpha = nn.Parameter(torch.ones(1))
        self.shift = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _init_from(self, x: torch.Tensor) -> None:
        k = 4.0 if self.unsigned else 2.0
        self.alpha.fill_(k * float(x.abs().mean()) / math.sqrt(self.qp))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.initialized):
            self._init_from(x)
        alpha = self.alpha.clamp(min=EPS)  # the code's `torch.where(alpha > 1e-5, alpha, 1e-5)`; fp32
        return _ElasticQuantFn.apply(x + self.shift.to(x.dtype), alpha, self.qn, self.qp, self.unsigned)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, unsigned={self.unsigned}"


class BitLinear(nn.Linear):
    """y = W~ Quant(LN(x)) * beta * gamma / Q_p (Eq. 9), trained with latent full-precision weights and the
    straight-through estimator (Sec. 2.2.1-2.2.2).

    Standalone, BitLinear carries its own RMSNorm and activation quantizer: `BitLinear(d, k)` is the
    Appendix D module. Inside the model, projections that read the same input (q/k/v; gate/up) share one
    norm and one activation quantizer, held by the block (`norm=None, act_quant=None` here); because the
    normalised and quantized input is identical for each of them, this is the same function computed once
    (model.py, tests/test_model.py::test_appendix_d_layout_equivalence).

    The optimizer updates `self.weight`, the latent weights in full precision, with full-precision states;
    the ternary/binary weights exist only inside the forward pass.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        *,
        variant: str = "bitnet_b158",
        norm: nn.Module | None | str = "default",
        act_quant: nn.Module | None | str = "default",
        eps: float = EPS,
        eps_mode: str = "clamp",
        groups: int = 1,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if variant not in ("bitnet_b158", "bitnet_b1"):
            raise ValueError(f"variant={variant!r}: use 'bitnet_b158' (ternary) or 'bitnet_b1' (binary)")
        self.variant, self.eps, self.eps_mode, self.groups = variant, eps, eps_mode, groups
        self.mix = 1.0  # set_quantization: 0 uses the latent weights, 1 the quantized ones (default), between blends
        self.norm = RMSNorm(in_features, groups=groups) if norm == "default" else norm
        self.act_quant = AbsmaxQuant(eps=eps, eps_mode=eps_mode, groups=groups) if act_quant == "default" else act_quant
        self._inference_cache: tuple[tuple, torch.Tensor] | None = None

    def quantized_weight(self) -> torch.Tensor:
        """Fake-quantized weights with the STE: forward sees W~ * beta, backward passes to the latent W.

        In eval mode without autograd (evaluation, inference) the quantized weights are computed once and
        reused until the latent weights change (their version counter moves on any in-place update)."""
        if not self.training and not torch.is_grad_enabled():
            w = self.weight
            key = (w.data_ptr(), w._version, w.device, w.dtype, self.mix)
            if self._inference_cache is None or self._inference_cache[0] != key:
                self._inference_cache = (key, self._quantize())
            return self._inference_cache[1]
        return self._quantize()

    def integer_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The integer weights (int8: {-1, 0, 1} or {-1, 1}) and the scale beta that the forward pass uses:
        codes * beta is `quantized_weight()`. One scale per tensor (groups == 1); what inference formats store."""
        if self.groups != 1:
            raise ValueError(f"integer weights with one scale per tensor need groups == 1, not {self.groups}")
        w = self.weight.detach().float()
        codes, beta = quantize_weight_int(w, self.variant, self.eps, self.eps_mode)
        return codes, _safe(beta, self.eps, self.eps_mode) if self.variant == "bitnet_b158" else beta

    def _quantize(self) -> torch.Tensor:
        if self.mix == 0.0:
            return self.weight
        if self.variant == "bitnet_b158":
            q = ste(self.weight, weight_quant_b158, eps=self.eps, eps_mode=self.eps_mode, groups=self.groups)
        else:
            q = ste(self.weight, weight_quant_b1, groups=self.groups)
        return q if self.mix == 1.0 else torch.lerp(self.weight, q, self.mix)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        if self.act_quant is not None:
            x = self.act_quant(x)
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, variant={self.variant}, groups={self.groups}"


# ------------------------------------------------------------------------------------------------------
# KV cache (Sec. 4.2)
# ------------------------------------------------------------------------------------------------------


def kv_quant_int(t: torch.Tensor, bits: int = 4, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Sec. 4.2: "We quantize each head using symmetric absmax". t (..., head_dim) -> int8 codes in
    [-(2^(b-1) - 1), 2^(b-1) - 1] and one scale per head and token (so a token's cached values never change
    when later tokens arrive, and a cached decode equals a full forward with the same quantization)."""
    q = 2 ** (bits - 1) - 1
    scale = t.abs().amax(dim=-1, keepdim=True).clamp(min=eps) / q
    return (t / scale).round().clamp(-q, q).to(torch.int8), scale


def kv_fake_quant(t: torch.Tensor, bits: int) -> torch.Tensor:
    codes, scale = kv_quant_int(t, bits)
    return codes.to(t.dtype) * scale


def set_quantization(model: nn.Module, mix: float) -> None:
    """Blend every BitLinear's weights and every absmax activation quantizer between full precision (`mix` 0)
    and quantized (1, the default): W_mix = W + mix (Q(W) - W), and the same for activations, with the STE.
    mix 0 makes a converted model compute what its full-precision source does (the conversion test), and a
    rising mix is the gradual 16-bit -> 1.58-bit switch of BitDistill's small-model recipe."""
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix={mix} must lie in [0, 1]")
    for m in model.modules():
        if isinstance(m, (BitLinear, AbsmaxQuant)):
            m.mix = float(mix)
